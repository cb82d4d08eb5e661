// streamstats — minimum and maximum over a compile-time window.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/detail/common.hpp>

#include <array>
#include <cstddef>

namespace streamstats {

// Minimum and maximum of the last N samples in amortised O(1) per push: the monotonic wedge
// (Lemire 2006, "Streaming maximum-minimum filter using no more than three comparisons per
// element"). Each wedge is a deque of positions whose values are increasing (min) or decreasing
// (max); a new sample pops every entry it dominates from the back, the front expires when it leaves
// the window, so the front is the extremum. Every sample enters and leaves each wedge at most once.
// Both deques live in fixed std::array rings of N slots (a wedge never holds more than the window):
// no heap.
//
// Counts: count() is the number of samples pushed; size() the number in the window, min(count(), N).
// Below the minimum count: min(), max(), range() and value() are NaN when empty.
// NaN policy: a NaN makes min() and max() NaN while it is in the window (as extrema<T> does, and
// unlike pandas, which skips NaN), then they recover once it leaves. NaN never enters the wedges
// (every comparison with it is false); only the position of the latest NaN is remembered. ±Inf are
// ordinary values. Ties keep the newest position, so a run of equal values costs one slot.
//
// Not mergeable: windows over different streams do not combine.
template <class T, std::size_t N>
class rolling_extrema {
  STREAMSTATS_REQUIRE_SCALAR(T);
  static_assert(N > 0, "streamstats: the window size N of rolling_extrema<T, N> must be at least 1");

 public:
  using value_type = T;

  constexpr rolling_extrema() noexcept = default;

  constexpr void push(const T& x) noexcept {
    const std::size_t i = n_++;  // absolute position of x
    // Position i − N leaves the window first: its ring slot is about to be overwritten, and a wedge
    // never holds more than N positions.
    if (i >= N) {
      min_.expire(i - N);
      max_.expire(i - N);
    }
    ring_[i % N] = x;
    if (x != x) {
      last_nan_ = n_;  // stored +1 so that 0 means "never"
    } else {
      min_.push(ring_, i, [](T back, T v) { return back >= v; });
      max_.push(ring_, i, [](T back, T v) { return back <= v; });
    }
  }
  constexpr void operator()(const T& x) noexcept { push(x); }

  template <class It>
  constexpr void push(It first, It last) {
    for (; first != last; ++first) {
      push(static_cast<T>(*first));
    }
  }

  // Samples pushed since construction or reset().
  [[nodiscard]] constexpr std::size_t count() const noexcept { return n_; }
  // Samples in the window: min(count(), N).
  [[nodiscard]] constexpr std::size_t size() const noexcept { return n_ < N ? n_ : N; }
  [[nodiscard]] static constexpr std::size_t capacity() noexcept { return N; }
  [[nodiscard]] constexpr bool full() const noexcept { return n_ >= N; }

  // Smallest sample in the window; NaN when empty or while a NaN is in the window.
  [[nodiscard]] constexpr T min() const noexcept {
    return nan_in_window() ? detail::quiet_nan<T>() : min_.front(ring_);
  }
  // Largest sample in the window; NaN when empty or while a NaN is in the window.
  [[nodiscard]] constexpr T max() const noexcept {
    return nan_in_window() ? detail::quiet_nan<T>() : max_.front(ring_);
  }
  // max() − min(); NaN when empty.
  [[nodiscard]] constexpr T range() const noexcept { return max() - min(); }
  // The primary result is the range (as for extrema<T>).
  [[nodiscard]] constexpr T value() const noexcept { return range(); }

  constexpr void reset() noexcept { *this = rolling_extrema{}; }

 private:
  // A deque of absolute positions in a ring of N slots.
  class wedge {
   public:
    template <class Dominated>
    constexpr void push(const std::array<T, N>& ring, std::size_t i, Dominated dominated) noexcept {
      while (len_ > 0 && dominated(ring[back() % N], ring[i % N])) {
        --len_;
      }
      slots_[(head_ + len_) % N] = i;
      ++len_;
    }
    constexpr void expire(std::size_t oldest_gone) noexcept {
      if (len_ > 0 && slots_[head_] <= oldest_gone) {
        head_ = head_ + 1 == N ? 0 : head_ + 1;
        --len_;
      }
    }
    // NaN when empty (only possible when the window holds no sample, or only NaN).
    [[nodiscard]] constexpr T front(const std::array<T, N>& ring) const noexcept {
      return len_ == 0 ? detail::quiet_nan<T>() : ring[slots_[head_] % N];
    }

   private:
    [[nodiscard]] constexpr std::size_t back() const noexcept { return slots_[(head_ + len_ - 1) % N]; }

    std::array<std::size_t, N> slots_{};
    std::size_t head_ = 0;
    std::size_t len_ = 0;
  };

  [[nodiscard]] constexpr bool nan_in_window() const noexcept {
    // last_nan_ − 1 is the NaN's position; it is in the window while n_ − position ≤ N.
    return n_ == 0 || (last_nan_ != 0 && n_ - (last_nan_ - 1) <= N);
  }

  std::array<T, N> ring_{};
  wedge min_{};
  wedge max_{};
  std::size_t n_ = 0;
  std::size_t last_nan_ = 0;
};

}  // namespace streamstats
