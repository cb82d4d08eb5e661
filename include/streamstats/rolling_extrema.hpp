// streamstats — minimum and maximum over a window of up to a compile-time capacity.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/detail/common.hpp>
#include <streamstats/detail/window_length.hpp>

#include <array>
#include <cstddef>

namespace streamstats {

// Minimum and maximum of the last N samples in amortised O(1) per push: the monotonic wedge
// (Lemire 2006, "Streaming maximum-minimum filter using no more than three comparisons per
// element"). Each wedge is a deque of positions whose values are increasing (min) or decreasing
// (max); a new sample pops every entry it dominates from the back, the front expires when it leaves
// the window, so the front is the extremum. Every sample enters and leaves each wedge at most once.
// Both deques live in fixed std::array rings of N slots holding (value, position) (a wedge never
// holds more than the window): no heap, and no other copy of the window.
//
// Window length: rolling_extrema<T, N> s(w) uses the last w samples for any 1 ≤ w ≤ N chosen at
// run time (N is then the capacity of the wedge rings, which never hold more than w entries, so
// nothing is allocated); w outside [1, N] throws std::invalid_argument naming `window`.
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
  friend struct detail::state_access;
  static_assert(N > 0, "streamstats: the window size N of rolling_extrema<T, N> must be at least 1");

 public:
  using value_type = T;

  constexpr rolling_extrema() noexcept = default;
  // A window of the last `window` samples, 1 ≤ window ≤ N; throws std::invalid_argument otherwise.
  explicit rolling_extrema(std::size_t window)
      : window_(detail::checked_window(window, N, "rolling_extrema")) {}

  constexpr void push(const T& x) noexcept {
    const std::size_t i = n_++;  // absolute position of x
    // Position i − w leaves the window before i enters: a wedge never holds more than w ≤ N entries.
    if (i >= window_) {
      min_.expire(i - window_);
      max_.expire(i - window_);
    }
    if (x != x) {
      last_nan_ = n_;  // stored +1 so that 0 means "never"
    } else {
      min_.push(x, i, [](T back, T v) { return back >= v; });
      max_.push(x, i, [](T back, T v) { return back <= v; });
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
  // Samples in the window: min(count(), window()).
  [[nodiscard]] constexpr std::size_t size() const noexcept { return n_ < window_ ? n_ : window_; }
  // The window length: N, or the length given to the constructor.
  [[nodiscard]] constexpr std::size_t window() const noexcept { return window_; }
  // The compile-time capacity N (the largest window()).
  [[nodiscard]] static constexpr std::size_t capacity() noexcept { return N; }
  [[nodiscard]] constexpr bool full() const noexcept { return n_ >= window_; }

  // Smallest sample in the window; NaN when empty or while a NaN is in the window.
  [[nodiscard]] constexpr T min() const noexcept {
    return nan_in_window() ? detail::quiet_nan<T>() : min_.front();
  }
  // Largest sample in the window; NaN when empty or while a NaN is in the window.
  [[nodiscard]] constexpr T max() const noexcept {
    return nan_in_window() ? detail::quiet_nan<T>() : max_.front();
  }
  // max() − min(); NaN when empty.
  [[nodiscard]] constexpr T range() const noexcept { return max() - min(); }
  // The primary result is the range (as for extrema<T>).
  [[nodiscard]] constexpr T value() const noexcept { return range(); }

  // Back to empty; the window length is kept.
  constexpr void reset() noexcept {
    const std::size_t w = window_;
    *this = rolling_extrema{};
    window_ = w;
  }

 private:
  // A deque of (value, absolute position) in a ring of N slots; indices wrap by comparison, not by
  // division.
  class wedge {
    friend struct detail::state_access;

   public:
    template <class Dominated>
    constexpr void push(T x, std::size_t i, Dominated dominated) noexcept {
      while (len_ > 0 && dominated(values_[wrap(head_ + len_ - 1)], x)) {
        --len_;
      }
      const std::size_t slot = wrap(head_ + len_);
      values_[slot] = x;
      positions_[slot] = i;
      ++len_;
    }
    constexpr void expire(std::size_t oldest_gone) noexcept {
      if (len_ > 0 && positions_[head_] <= oldest_gone) {
        head_ = wrap(head_ + 1);
        --len_;
      }
    }
    // NaN when empty (only possible when the window holds no sample, or only NaN).
    [[nodiscard]] constexpr T front() const noexcept {
      return len_ == 0 ? detail::quiet_nan<T>() : values_[head_];
    }

   private:
    // head_ < N and len_ ≤ N, so one subtraction brings any head_ + k (k < N) back into the ring.
    [[nodiscard]] static constexpr std::size_t wrap(std::size_t k) noexcept { return k >= N ? k - N : k; }

    std::array<T, N> values_{};
    std::array<std::size_t, N> positions_{};
    std::size_t head_ = 0;
    std::size_t len_ = 0;
  };

  [[nodiscard]] constexpr bool nan_in_window() const noexcept {
    // last_nan_ − 1 is the NaN's position; it is in the window while n_ − position ≤ window_.
    return n_ == 0 || (last_nan_ != 0 && n_ - (last_nan_ - 1) <= window_);
  }

  wedge min_{};
  wedge max_{};
  std::size_t n_ = 0;
  std::size_t last_nan_ = 0;
  std::size_t window_ = N;
};

}  // namespace streamstats
