// streamstats — mean and variance over a window of up to a compile-time capacity.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/detail/common.hpp>
#include <streamstats/detail/lanes.hpp>
#include <streamstats/detail/nonfinite.hpp>
#include <streamstats/detail/window_length.hpp>
#include <streamstats/variance.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <type_traits>

// push() and the steps it calls are forced inline: GCC -O2 inlines push() by itself only where a
// translation unit calls it once, and any out-of-line member call takes the accumulator's address,
// which keeps its whole state in memory across the caller's loop (measured: 4.3 instead of 2.2 ns per
// push + variance at N = 64). The O(N) two-pass stays out of line, as a static function.
#ifndef STREAMSTATS_DETAIL_FORCE_INLINE
#if defined(__GNUC__) || defined(__clang__)
#define STREAMSTATS_DETAIL_FORCE_INLINE __attribute__((always_inline))
#define STREAMSTATS_DETAIL_NOINLINE __attribute__((noinline))
#else
#define STREAMSTATS_DETAIL_FORCE_INLINE
#define STREAMSTATS_DETAIL_NOINLINE
#endif
#endif

namespace streamstats {

// Mean and variance of the last N samples, in a fixed std::array ring: no heap.
//
// Window length: rolling_variance<T, N> s(w) uses the last w samples for any 1 ≤ w ≤ N chosen at
// run time (N is then the capacity: the first w slots of the ring are used, nothing is allocated);
// w outside [1, N] throws std::invalid_argument naming `window`. Below, "N" means window().
//
// Algorithm: windowed Welford on shifted data. The state is (m, mean, M2) of y = x − K, where the
// shift K is a recent window mean; every push adds the new sample and removes the leaving one:
//   add     mean' = mean + (y − mean)/(m+1),   M2' = M2 + (y − mean)(y − mean')
//   remove  mean' = mean − (y − mean)/(m−1),   M2' = M2 − (y − mean')(y − mean)
//   replace mean' = mean + (y_new − y_old)/m,  M2' = M2 + (y_new − y_old)(y_new − mean' + y_old − mean)
// (replace is remove and add fused, used while the window is full; each is Welford's update or its
// exact inverse).
// Why the shift: without it the mean of data offset by 1e9 carries an absolute rounding error of
// eps·1e9 ≈ 1e-7 per update, which lands in M2 at 1e-7 relative to σ² — pandas' rolling var, which
// updates unshifted sums, is off by up to 4e-3 relative on 1e9 + N(0,1) with N = 2. With the shift
// the updates work on O(σ) numbers.
// Why the recomputation: add/remove errors random-walk without bound over 10⁷ pushes, so every N
// pushes the window's (mean, M2) is recomputed exactly around a fresh shift, and the error never
// accumulates over more than N updates. The window then holds exactly the N samples pushed since the
// last recomputation, whose shifted power sums Σy, Σy² are kept beside the running state: M2 =
// Σy² − (Σy)²/N in O(1) when the shift is close to their mean (see renew()), else the corrected
// two-pass algorithm (Chan, Golub & LeVeque 1983) over the ring, O(N) once per N pushes. The same
// recomputation runs early when a remove step cancels most of M2 (see cancellation_limit), which keeps the
// result at ~1e-14 relative even when the variance of the window collapses (two nearly equal samples after a
// spread-out past).
//
// Conventions (pandas Series.rolling(N, min_periods=1), NumPy ddof):
//   mean()                mean of the samples in the window; NaN when empty
//   sample_variance()     M2 / (m − 1), pandas .var() / ddof=1; NaN below 2 samples (as pandas);
//                         also value()
//   population_variance() M2 / m, pandas .var(ddof=0); NaN when empty, 0 for one sample
//   stddev(), population_stddev()  their square roots (same NaN rules)
// where m = size() = min(count(), N) is the number of samples in the window: while the window fills,
// the results are those of the samples seen so far (partial windows, like min_periods=1).
// The variances are never negative (M2 is clamped at 0 against rounding in the remove step).
//
// Non-finite input: while a NaN is in the window every getter is NaN; an infinity makes mean()
// that infinity (NaN with both signs) and the variances NaN (IEEE: ∞ − ∞). Non-finite samples are
// counted, not folded into (mean, M2), so the statistics recover exactly once they leave the window.
// pandas skips NaN instead: a deliberate difference.
//
// Not mergeable: windows over different streams do not combine.
template <class T, std::size_t N>
class rolling_variance {
  STREAMSTATS_REQUIRE_SCALAR(T);
  friend struct detail::state_access;
  static_assert(N > 0, "streamstats: the window size N of rolling_variance<T, N> must be at least 1");

 public:
  using value_type = T;

  constexpr rolling_variance() noexcept = default;
  // A window of the last `window` samples, 1 ≤ window ≤ N; throws std::invalid_argument otherwise.
  explicit rolling_variance(std::size_t window)
      : window_(detail::checked_window(window, N, "rolling_variance")), inv_w_minus_1_(inv_minus_1(window)) {}

  STREAMSTATS_DETAIL_FORCE_INLINE constexpr void push(const T& x) noexcept {
    const bool x_finite = detail::is_finite(x);
    if (m_ == window_ && x_finite) {
      // Full and every sample finite (m_ counts the finite ones), so the leaving one is finite too.
      replace(ring_[head_], x);
    } else if (size_ == window_) {
      const T old = ring_[head_];
      const bool old_finite = detail::is_finite(old);
      if (old_finite && x_finite && m_ > 0) {
        replace(old, x);
      } else {
        if (old_finite) {
          remove(old);
        } else {
          nonfinite_.leave(old);
        }
        if (x_finite) {
          add(x);
        } else {
          nonfinite_.enter(x);
        }
      }
    } else {
      ++size_;
      if (x_finite) {
        add(x);
      } else {
        nonfinite_.enter(x);
      }
    }
    ring_[head_] = x;
    head_ = head_ + 1 == window_ ? 0 : head_ + 1;
    ++n_;
    if (++since_recompute_ == window_) {
      renew();
    } else if (churn_ > cancellation_limit * m2_) {
      recompute();
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
  [[nodiscard]] constexpr std::size_t size() const noexcept { return size_; }
  // The window length: N, or the length given to the constructor.
  [[nodiscard]] constexpr std::size_t window() const noexcept { return window_; }
  // The compile-time capacity N (the largest window()).
  [[nodiscard]] static constexpr std::size_t capacity() noexcept { return N; }
  [[nodiscard]] constexpr bool full() const noexcept { return size_ == window_; }

  // Mean of the window; NaN when empty (non-finite input: see the class comment).
  [[nodiscard]] constexpr T mean() const noexcept {
    if (size_ == 0) {
      return detail::quiet_nan<T>();
    }
    if (nonfinite_.any()) {
      return nonfinite_.mean();
    }
    return shift_ + mean_;
  }
  // M2 / (size() − 1); NaN when size() < 2 or a non-finite sample is in the window.
  [[nodiscard]] constexpr T sample_variance() const noexcept {
    if (m_ == window_) {  // full and finite (m_ counts the finite samples in the window)
      return m2_ * inv_w_minus_1_;
    }
    return has_nonfinite() ? detail::quiet_nan<T>() : detail::variance_from_m2(m2_, m_, 1);
  }
  // M2 / size(); NaN when empty or a non-finite sample is in the window, 0 for one sample.
  [[nodiscard]] constexpr T population_variance() const noexcept {
    return has_nonfinite() ? detail::quiet_nan<T>() : detail::variance_from_m2(m2_, m_, 0);
  }
  // sqrt(sample_variance()); NaN when size() < 2.
  [[nodiscard]] T stddev() const noexcept { return std::sqrt(sample_variance()); }
  // sqrt(population_variance()); NaN when empty.
  [[nodiscard]] T population_stddev() const noexcept { return std::sqrt(population_variance()); }
  // The primary result: sample_variance().
  [[nodiscard]] constexpr T value() const noexcept { return sample_variance(); }

  // Back to empty; the window length is kept.
  constexpr void reset() noexcept {
    const std::size_t w = window_;
    const T inv = inv_w_minus_1_;
    *this = rolling_variance{};
    window_ = w;
    inv_w_minus_1_ = inv;
  }

 private:
  // The remove/replace steps subtract from M2, and their rounding error is relative to the terms
  // they add, not to the result: once Σ|ΔM2| since the last recomputation exceeds 256·M2, M2 may
  // have lost 8 bits (~2.4 digits) to cancellation — e.g. when an outlier or a level shift leaves the
  // window and the remaining samples are nearly equal — so the window is recomputed at once instead
  // of at the next periodic recomputation. On ordinary data Σ|ΔM2| over N pushes is a few M2, so
  // this does not fire; data that collapses its variance by more than 256× at every push can make
  // every push O(N).
  static constexpr T cancellation_limit = T(256);

  // NaN for a window of one sample, whose sample variance is NaN: M2 · NaN is then the right
  // result without a second test in sample_variance().
  [[nodiscard]] static constexpr T inv_minus_1(std::size_t w) noexcept {
    return w > 1 ? T(1) / static_cast<T>(w - 1) : detail::quiet_nan<T>();
  }

  [[nodiscard]] constexpr bool has_nonfinite() const noexcept { return nonfinite_.any(); }

  STREAMSTATS_DETAIL_FORCE_INLINE constexpr void add(T x) noexcept {
    if (m_ == 0) {
      shift_ = x;  // an empty window takes its first sample as the shift
      mean_ = T(0);
      m2_ = T(0);
    }
    const T y = x - shift_;
    block_add(y);
    ++m_;
    inv_m_ = T(1) / static_cast<T>(m_);
    const T d = y - mean_;
    mean_ += d * inv_m_;
    m2_ += d * (y - mean_);
  }

  STREAMSTATS_DETAIL_FORCE_INLINE constexpr void remove(T x) noexcept {
    if (m_ <= 1) {
      m_ = 0;
      mean_ = T(0);
      m2_ = T(0);
      return;
    }
    const T y = x - shift_;
    const T old_mean = mean_;
    --m_;
    inv_m_ = T(1) / static_cast<T>(m_);
    mean_ = old_mean - (y - old_mean) * inv_m_;
    const T term = (y - mean_) * (y - old_mean);
    m2_ -= term;
    churn_ += detail::abs(term);
    if (m2_ < T(0)) {
      m2_ = T(0);
    }
  }

  STREAMSTATS_DETAIL_FORCE_INLINE constexpr void replace(T x_old, T x_new) noexcept {
    const T y_old = x_old - shift_;
    const T y_new = x_new - shift_;
    block_add(y_new);
    const T old_mean = mean_;
    const T d = y_new - y_old;
    // 1/m is kept beside m (which changes only while the window fills or a non-finite sample
    // passes), so a sliding push multiplies (≤ 1 ulp of the increment from d / m) and keeps the
    // divider, the slowest unit, out of the push.
    mean_ = old_mean + d * inv_m_;
    const T term = d * ((y_new - mean_) + (y_old - old_mean));
    m2_ += term;
    churn_ += detail::abs(term);
    if (m2_ < T(0)) {
      m2_ = T(0);
    }
  }

  // Σy and Σy² in four partial sums each, taking the pushes in turn: each partial sum adds N/4 terms,
  // which keeps Σy²'s rounding error at the level of the two-pass (a single running Σy² was 3× less
  // accurate on exponential data at 1e9), and when the state is in memory (a ring too large to copy,
  // see ring_arg()) each lane's add depends on the one four pushes back, not on the previous push's
  // store (a single Σy there cost 8.5 instead of 4.7 ns per push with -march=native).
  STREAMSTATS_DETAIL_FORCE_INLINE constexpr void block_add(T y) noexcept {
    const std::size_t lane = since_recompute_ % 4;
    block_sum_[lane] += y;
    block_sq_[lane] += y * y;
  }
  constexpr void block_reset() noexcept {
    block_sum_ = {};
    block_sq_ = {};
  }

  // Every window_ pushes since the last recomputation the window holds exactly the samples pushed
  // since then, and block_sum_ = Σy, block_sq_ = Σy² (y = x − shift_, kept by block_add()) are their
  // shifted power sums: when every sample of the window is finite, its (mean, M2) follows in O(1),
  // M2 = Σy² − (Σy)²/m, with no pass over the ring. That one-pass formula is as exact as the rounding
  // of Σy² while the shift is close to the mean: accepted when (Σy)²/m ≤ Σy²/4 (M2 keeps at least 3/4
  // of Σy², so its relative error is at most 4/3 of Σy²'s). The shift is the window mean of at most
  // window_ pushes ago, so on stationary data this holds (N = 64, 10⁷ pushes: all but one renewal in
  // 530 on normal data, one in 140 on exponential data). Otherwise (a level change inside the
  // window, a non-finite sample in it, overflow) the corrected two-pass over the ring runs instead,
  // as before. Measured (bench/alternatives.md): the two-pass every N pushes costs 0.8 ns per push
  // more than this at N = 64, 1.7 ns more as a member call that keeps the state in memory.
  // The result's mean becomes the new shift, as in recompute().
  STREAMSTATS_DETAIL_FORCE_INLINE constexpr void renew() noexcept {
    if (m_ == window_) {
      const T m = static_cast<T>(m_);
      const T sum = (block_sum_[0] + block_sum_[1]) + (block_sum_[2] + block_sum_[3]);
      const T sq = (block_sq_[0] + block_sq_[1]) + (block_sq_[2] + block_sq_[3]);
      const T t = sum / m;  // window mean − shift_
      const T m2 = sq - sum * t;
      if (m2 >= T(0.75) * sq && detail::is_finite(m2)) {
        const T k = shift_ + t;
        mean_ = t - (k - shift_);  // what k lost of t (exact: Fast2Sum when |t| ≤ |shift_|)
        shift_ = k;
        m2_ = m2;
        since_recompute_ = 0;
        churn_ = T(0);
        block_reset();
        return;
      }
    }
    recompute();
  }

  // Corrected two-pass over the finite samples of the window around a new shift (the current mean
  // estimate, so that the deviations are O(σ) and x − K is exact when x and K are within a factor 2).
  STREAMSTATS_DETAIL_FORCE_INLINE constexpr void recompute() noexcept {
    since_recompute_ = 0;
    churn_ = T(0);
    block_reset();
    if (m_ == 0) {
      return;
    }
    const T k = shift_ + mean_;
    const moments2 r = two_pass(ring_arg(), size_, m_, k, has_nonfinite());
    shift_ = k;
    mean_ = r.mean;
    m2_ = r.m2;
  }

  // The power sums of the samples pushed since the last recomputation (the last since_recompute_
  // slots of the ring, oldest first), summed as push() sums them: a loaded state continues bit for
  // bit without storing them (state.hpp calls this after loading).
  constexpr void rebuild_block() noexcept {
    block_reset();
    std::size_t i = (head_ + window_ - since_recompute_ % window_) % window_;
    for (std::size_t j = 0; j < since_recompute_; ++j) {
      const T x = ring_[i];
      if (detail::is_finite(x)) {
        const T y = x - shift_;
        block_sum_[j % 4] += y;
        block_sq_[j % 4] += y * y;
      }
      i = i + 1 == window_ ? 0 : i + 1;
    }
  }

  struct moments2 {
    T mean;  // of x − k
    T m2;
  };

  // The ring for two_pass(): a copy while it is small, so that no pointer into the accumulator
  // escapes into the out-of-line call (it would make GCC keep mean, M2 and the counters in memory
  // instead of registers across a caller's loop); its address when a copy would be a large stack
  // frame.
  static constexpr bool ring_by_value = N * sizeof(T) <= 2048;
  using ring_param = std::conditional_t<ring_by_value, std::array<T, N>, const T*>;
  [[nodiscard]] constexpr ring_param ring_arg() const noexcept {
    if constexpr (ring_by_value) {
      return ring_;
    } else {
      return ring_.data();
    }
  }

  [[nodiscard]] static constexpr const T* ring_ptr(const std::array<T, N>& ring) noexcept {
    return ring.data();
  }
  [[nodiscard]] static constexpr const T* ring_ptr(const T* ring) noexcept { return ring; }

  // (mean, M2) of the finite ring[0, size) around k. Static and never inlined: the rare path stays
  // out of the caller's loop.
  [[nodiscard]] STREAMSTATS_DETAIL_NOINLINE static constexpr moments2 two_pass(const ring_param ring_in,
                                                                               std::size_t size,
                                                                               std::size_t finite, T k,
                                                                               bool nonfinite) noexcept {
    const T* ring = ring_ptr(ring_in);
    const T m = static_cast<T>(finite);
    T mu;
    T sd;
    T sq;
    if (!nonfinite) {
      // Every slot of the window is finite (size == finite): eight independent lanes and no branch
      // (detail/lanes.hpp) instead of two latency-bound chains of N dependent adds.
      const std::size_t body = size - size % detail::lane_count;
      T s = detail::shifted_lane_sum(ring, body, k);
      for (std::size_t i = body; i < size; ++i) {
        s += ring[i] - k;
      }
      mu = s / m;
      const auto dev = detail::lane_deviation_sums(ring, body, k, mu);
      sd = dev.sum;
      sq = dev.sum_sq;
      for (std::size_t i = body; i < size; ++i) {
        const T e = (ring[i] - k) - mu;
        sd += e;
        sq += e * e;
      }
    } else {
      T s = T(0);
      for (std::size_t i = 0; i < size; ++i) {
        if (detail::is_finite(ring[i])) {
          s += ring[i] - k;
        }
      }
      mu = s / m;
      sd = T(0);
      sq = T(0);
      for (std::size_t i = 0; i < size; ++i) {
        if (detail::is_finite(ring[i])) {
          const T dev = (ring[i] - k) - mu;
          sd += dev;
          sq += dev * dev;
        }
      }
    }
    const T m2 = sq - sd * sd / m;
    return {mu + sd / m, m2 < T(0) ? T(0) : m2};
  }

  std::size_t head_ = 0;  // slot of the next write (= the oldest sample once full), < window_
  std::size_t window_ = N;
  // 1/(window_ − 1) for the full-window sample variance (M2 · it is then the result).
  T inv_w_minus_1_ = inv_minus_1(N);
  std::size_t size_ = 0;
  std::size_t n_ = 0;
  std::size_t m_ = 0;  // finite samples in the window
  T inv_m_{};          // 1 / m_ (when m_ > 0)
  std::size_t since_recompute_ = 0;
  detail::nonfinite_counts<T> nonfinite_{};
  T shift_{};
  T mean_{};  // mean of x − shift_ over the finite samples in the window
  T m2_{};
  T churn_{};  // Σ|ΔM2| of the remove/replace steps since the last recomputation
  // Σy and Σy² (in four partial sums, see block_add()) of y = x − shift_ over the finite
  // samples pushed since the last recomputation (renew()); not part of the saved state:
  // rebuild_block() derives them from the ring.
  std::array<T, 4> block_sum_{};
  std::array<T, 4> block_sq_{};
  // Last on purpose: std::array's element array is a trailing array, which GCC assumes may extend
  // past its declared size, so a store to ring_[head_] may alias every member declared after it;
  // declared last, the scalar state can stay in registers across a caller's loop.
  std::array<T, N> ring_{};
};

}  // namespace streamstats
