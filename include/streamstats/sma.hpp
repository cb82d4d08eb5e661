// streamstats — simple moving average over a compile-time window.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/detail/common.hpp>

#include <array>
#include <cstddef>

namespace streamstats {

// How a moving window keeps its running sum from drifting.
//   compensated  compensated (TwoSum/Neumaier) add of the new sample and subtract of the leaving one:
//                every rounding error is carried in the compensation term, so the sum is correct to
//                a few ulps after any number of pushes, with a strictly O(1) push (no latency spike).
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
    // The slot about to be overwritten holds the leaving sample, or 0 while the window fills (the
    // ring is value-initialised and reset() restores that), so filling and sliding share one path.
    const T old = ring_[head_];
    // x − old as an exact pair (TwoSum). Its high part is finite exactly when both samples are
    // finite and the difference does not overflow: one test covers the common case.
    const auto d = detail::two_sum(x, -old);
    if (detail::is_finite(d.sum)) {
      if constexpr (Sum == window_sum::compensated) {
        const auto s = detail::two_sum(sum_, d.sum);
        sum_ = s.sum;
        comp_ += d.err + s.err;
      } else {
        sum_ += d.sum;
      }
    } else {
      if (detail::is_finite(old)) {
        add(-old);
      } else {
        count_nonfinite(old, false);
      }
      if (detail::is_finite(x)) {
        add(x);
      } else {
        count_nonfinite(x, true);
      }
    }
    size_ += size_ < N ? 1 : 0;
    ring_[head_] = x;
    head_ = head_ + 1 == N ? 0 : head_ + 1;
    ++n_;
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
  [[nodiscard]] constexpr T sum() const noexcept { return detail::is_finite(sum_) ? sum_ + comp_ : sum_; }

  constexpr void reset() noexcept { *this = sma{}; }

 private:
  // Compensated summation with Knuth's branch-free TwoSum (s + e == a + b exactly): the error of
  // every operation lands in comp_, so sum_ + comp_ tracks the exact window sum (Neumaier's
  // compensation, without the magnitude branch).
  constexpr void add(T x) noexcept {
    if constexpr (Sum == window_sum::compensated) {
      const auto s = detail::two_sum(sum_, x);
      sum_ = s.sum;
      comp_ += s.err;
    } else {
      sum_ += x;
    }
  }
  // x_new − x_old enters as one exact pair (TwoSum), so the running sum sees one addition per push:
  // half the loop-carried latency of subtracting and adding separately.
  constexpr void replace(T x_old, T x_new) noexcept {
    if constexpr (Sum == window_sum::compensated) {
      const auto d = detail::two_sum(x_new, -x_old);
      const auto s = detail::two_sum(sum_, d.sum);
      sum_ = s.sum;
      comp_ += d.err + s.err;
    } else {
      sum_ += x_new - x_old;
    }
  }

  constexpr void count_nonfinite(T x, bool entering) noexcept {
    // Direct increments, not a reference to the member chosen at run time: a pointer into *this
    // makes the whole state escape, and GCC then keeps it in memory.
    const std::size_t step = entering ? std::size_t{1} : ~std::size_t{0};  // +1 or −1 (mod 2^64)
    if (x != x) {
      nan_ += step;
    } else if (x > T(0)) {
      pos_inf_ += step;
    } else {
      neg_inf_ += step;
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

  std::size_t head_ = 0;  // slot of the next write (= the oldest sample once full)
  std::size_t size_ = 0;
  std::size_t n_ = 0;
  std::size_t since_recompute_ = 0;
  std::size_t nan_ = 0;
  std::size_t pos_inf_ = 0;
  std::size_t neg_inf_ = 0;
  T sum_{};
  T comp_{};
  // Last on purpose: std::array's element array is a trailing array, which GCC assumes may extend past
  // its declared size, so a store to ring_[head_] may alias every member declared after it and pins
  // them in memory (a store-to-load round trip on the running sum at every push). Declared last, the
  // scalar state can stay in registers across the caller's loop.
  std::array<T, N> ring_{};
};

}  // namespace streamstats
