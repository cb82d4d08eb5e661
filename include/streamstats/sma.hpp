// streamstats — simple moving average over a window of up to a compile-time capacity.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/detail/common.hpp>
#include <streamstats/detail/nonfinite.hpp>
#include <streamstats/detail/window_length.hpp>

#include <array>
#include <cstddef>

namespace streamstats {

// How a moving window keeps its running sum from drifting.
//   compensated  compensated (TwoSum/Neumaier) add of the new sample and subtract of the leaving one:
//                every rounding error is carried in the compensation term, so the sum is correct to
//                a few ulps after any number of pushes, with a strictly O(1) push (no latency spike).
//   recompute    plain running sum, replaced every N pushes by a fresh sum of exactly the samples
//                then in the window. The fresh sum is built one add per push as samples arrive (it
//                never subtracts, so it carries no cancellation from samples that left), so the
//                "recomputation" costs O(1) per push, with no O(N) spike. The drift of the running
//                sum is bounded by ~2N·eps·Σ|x| of one window and is discarded every N pushes.
//                Two independent adds per push: about half the cost of `compensated`.
enum class window_sum { compensated, recompute };

// Arithmetic mean of the last N samples (simple moving average), in a fixed std::array ring: no heap.
//
// Window length: sma<T, N> averages the last N samples; sma<T, N> s(w) averages the last w samples
// for any 1 ≤ w ≤ N chosen at run time (a configuration file cannot choose a template argument).
// N is then the capacity: the ring is a std::array of N slots of which the first w are used, so a
// run-time window allocates nothing either; w outside [1, N] throws std::invalid_argument naming
// `window`. window() is the length in use, capacity() is N.
//
// Counts: count() is the number of samples pushed since construction or reset() (the accumulator
// contract); size() is the number currently in the window, min(count(), window()); full() is
// size() == window().
// While the window fills, value() is the mean of the size() samples seen (pandas
// rolling(N, min_periods=1).mean()); NaN when empty.
//
// Non-finite input: a NaN (or +Inf together with −Inf) makes value() NaN while it is in the window,
// one sign of infinity makes value() that infinity; once the sample leaves the window the average
// recovers (non-finite samples are counted, never added to the running sum, so they cannot poison
// it). pandas instead skips NaN (min_periods counting): this is a deliberate difference.
//
// Not mergeable: two windows over different streams do not combine into a window of either.
// The default, window_sum::recompute, is the fast one (bench/results.md); choose
// window_sum::compensated for a sum correct to a few ulps at every push whatever the data's range.
template <class T, std::size_t N, window_sum Sum = window_sum::recompute>
class sma {
  STREAMSTATS_REQUIRE_SCALAR(T);
  friend struct detail::state_access;
  static_assert(N > 0, "streamstats: the window size N of sma<T, N> must be at least 1");

 public:
  using value_type = T;

  constexpr sma() noexcept = default;
  // A window of the last `window` samples, 1 ≤ window ≤ N; throws std::invalid_argument otherwise.
  explicit sma(std::size_t window)
      : window_(detail::checked_window(window, N, "sma")), inv_w_(T(1) / static_cast<T>(window)) {}

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
        fresh_ += x;
      }
    } else {
      if (detail::is_finite(old)) {
        add(-old);
      } else {
        nonfinite_.leave(old);
      }
      if (detail::is_finite(x)) {
        enter(x);
      } else {
        nonfinite_.enter(x);
      }
    }
    ring_[head_] = x;
    head_ = head_ + 1 == window_ ? 0 : head_ + 1;
    ++n_;
    if constexpr (Sum == window_sum::recompute) {
      if (head_ == 0) {
        // The last N pushes are exactly the window: their fresh sum replaces the running one.
        sum_ = fresh_;
        fresh_ = T(0);
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
  // Samples in the window: min(count(), window()).
  [[nodiscard]] constexpr std::size_t size() const noexcept { return n_ < window_ ? n_ : window_; }
  // The window length: N, or the length given to the constructor.
  [[nodiscard]] constexpr std::size_t window() const noexcept { return window_; }
  // The compile-time capacity N (the largest window()).
  [[nodiscard]] static constexpr std::size_t capacity() noexcept { return N; }
  [[nodiscard]] constexpr bool full() const noexcept { return n_ >= window_; }

  // Mean of the samples in the window; NaN when empty (see the class comment for non-finite input).
  [[nodiscard]] constexpr T value() const noexcept {
    // The common case first, with one test: a full window of finite samples. A multiplication by
    // 1/window() (kept beside it) replaces the division (≤ 1 ulp apart, exact for a power-of-two
    // window): the division would be the costliest instruction of a push + value().
    if (n_ >= window_ && !nonfinite_.any()) {
      return sum() * inv_w_;
    }
    if (n_ == 0) {
      return detail::quiet_nan<T>();
    }
    if (nonfinite_.any()) {
      return nonfinite_.mean();
    }
    return sum() / static_cast<T>(n_);
  }
  // Sum of the finite samples in the window (0 when empty).
  [[nodiscard]] constexpr T sum() const noexcept { return detail::is_finite(sum_) ? sum_ + comp_ : sum_; }

  // Back to empty; the window length is kept.
  constexpr void reset() noexcept {
    const std::size_t w = window_;
    const T inv = inv_w_;
    *this = sma{};
    window_ = w;
    inv_w_ = inv;
  }

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
  // A finite sample entering the window (the slow path's half of what push's fast path does).
  constexpr void enter(T x) noexcept {
    add(x);
    if constexpr (Sum == window_sum::recompute) {
      fresh_ += x;
    }
  }
  std::size_t head_ = 0;  // slot of the next write (= the oldest sample once full), < window_
  std::size_t n_ = 0;
  std::size_t window_ = N;
  T inv_w_ = T(1) / static_cast<T>(N);  // 1 / window_
  detail::nonfinite_counts<T> nonfinite_{};
  T sum_{};
  T comp_{};   // compensated: the running sum's error term
  T fresh_{};  // recompute: sum of the samples pushed since head_ was last 0
  // Last on purpose: std::array's element array is a trailing array, which GCC assumes may extend past
  // its declared size, so a store to ring_[head_] may alias every member declared after it and pins
  // them in memory (a store-to-load round trip on the running sum at every push). Declared last, the
  // scalar state can stay in registers across the caller's loop.
  std::array<T, N> ring_{};
};

}  // namespace streamstats
