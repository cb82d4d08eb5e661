// streamstats — simple moving average over a compile-time window.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/detail/common.hpp>

#include <array>
#include <cstddef>

namespace streamstats {

// How a moving window keeps its running sum from drifting.
//   compensated  Neumaier-compensated add of the new sample and subtract of the leaving one: every
//                rounding error is carried in the compensation term, so the sum is correct to a few
//                ulps after any number of pushes, with a strictly O(1) push (no latency spike).
//   recompute    plain running sum, re-summed exactly (Neumaier over the ring) every N pushes: the
//                drift between two recomputations is at most ~N·eps relative; O(1) amortised, but
//                one push in N costs O(N).
enum class window_sum { compensated, recompute };

// Arithmetic mean of the last N samples (simple moving average), in a fixed std::array ring: no heap.
//
// Counts: count() is the number of samples pushed since construction or reset() (the accumulator
// contract); size() is the number currently in the window, min(count(), N); full() is size() == N.
// While the window fills, value() is the mean of the size() samples seen (pandas
// rolling(N, min_periods=1).mean()); NaN when empty.
//
// Non-finite input: a NaN (or +Inf together with −Inf) makes value() NaN while it is in the window,
// one sign of infinity makes value() that infinity; once the sample leaves the window the average
// recovers (non-finite samples are counted, never added to the running sum, so they cannot poison
// it). pandas instead skips NaN (min_periods counting): this is a deliberate difference.
//
// Not mergeable: two windows over different streams do not combine into a window of either.
template <class T, std::size_t N, window_sum Sum = window_sum::compensated>
class sma {
  STREAMSTATS_REQUIRE_SCALAR(T);
  static_assert(N > 0, "streamstats: the window size N of sma<T, N> must be at least 1");

 public:
  using value_type = T;

  constexpr sma() noexcept = default;

  constexpr void push(const T& x) noexcept {
    if (size_ == N) {
      const T old = ring_[head_];
      if (detail::is_finite(old)) {
        sub(old);
      } else {
        count_nonfinite(old, false);
      }
    } else {
      ++size_;
    }
    ring_[head_] = x;
    head_ = head_ + 1 == N ? 0 : head_ + 1;
    ++n_;
    if (detail::is_finite(x)) {
      add(x);
    } else {
      count_nonfinite(x, true);
    }
    if constexpr (Sum == window_sum::recompute) {
      if (++since_recompute_ == N) {
        recompute();
      }
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
  [[nodiscard]] constexpr std::size_t size() const noexcept { return size_; }
  [[nodiscard]] static constexpr std::size_t capacity() noexcept { return N; }
  [[nodiscard]] constexpr bool full() const noexcept { return size_ == N; }

  // Mean of the samples in the window; NaN when empty (see the class comment for non-finite input).
  [[nodiscard]] constexpr T value() const noexcept {
    if (size_ == 0 || nan_ > 0 || (pos_inf_ > 0 && neg_inf_ > 0)) {
      return detail::quiet_nan<T>();
    }
    if (pos_inf_ > 0) {
      return detail::infinity<T>();
    }
    if (neg_inf_ > 0) {
      return -detail::infinity<T>();
    }
    return sum() / static_cast<T>(size_);
  }
  // Sum of the finite samples in the window (0 when empty).
  [[nodiscard]] constexpr T sum() const noexcept { return sum_ + comp_; }

  constexpr void reset() noexcept { *this = sma{}; }

 private:
  // Neumaier (1974) step; with subtraction expressed as the addition of −x the error of every
  // operation lands in comp_, so sum_ + comp_ tracks the exact window sum.
  constexpr void add(T x) noexcept {
    if constexpr (Sum == window_sum::compensated) {
      const T t = sum_ + x;
      if (detail::abs(sum_) >= detail::abs(x)) {
        comp_ += (sum_ - t) + x;
      } else {
        comp_ += (x - t) + sum_;
      }
      sum_ = t;
    } else {
      sum_ += x;
    }
  }
  constexpr void sub(T x) noexcept { add(-x); }

  constexpr void count_nonfinite(T x, bool entering) noexcept {
    std::size_t& c = x != x ? nan_ : (x > T(0) ? pos_inf_ : neg_inf_);
    if (entering) {
      ++c;
    } else {
      --c;
    }
  }

  // Exact re-summation of the window (recompute policy), resetting the accumulated drift.
  constexpr void recompute() noexcept {
    since_recompute_ = 0;
    detail::neumaier_sum<T> s;
    for (std::size_t i = 0; i < size_; ++i) {
      if (detail::is_finite(ring_[i])) {
        s.add(ring_[i]);
      }
    }
    sum_ = s.value();
    comp_ = T(0);
  }

  std::array<T, N> ring_{};
  std::size_t head_ = 0;  // slot of the next write (= the oldest sample once full)
  std::size_t size_ = 0;
  std::size_t n_ = 0;
  std::size_t since_recompute_ = 0;
  std::size_t nan_ = 0;
  std::size_t pos_inf_ = 0;
  std::size_t neg_inf_ = 0;
  T sum_{};
  T comp_{};
};

}  // namespace streamstats
