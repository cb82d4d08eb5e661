// streamstats — Welford running mean and variance.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/detail/common.hpp>
#include <streamstats/detail/lanes.hpp>

#include <cmath>
#include <cstddef>

namespace streamstats {

namespace detail {

// M2 / (n - ddof), NaN when n <= ddof (pandas and NumPy return NaN there too).
template <class T>
[[nodiscard]] constexpr T variance_from_m2(T m2, std::size_t n, std::size_t ddof) noexcept {
  if (n <= ddof) {
    return quiet_nan<T>();
  }
  // M2 is a sum of squares; rounding can never make it negative in Welford's update, but merged
  // or windowed states clamp anyway so that sqrt() is always defined.
  return (m2 < T(0) ? T(0) : m2) / static_cast<T>(n - ddof);
}

// (mean − k, M2) of one block of contiguous samples by the corrected two-pass algorithm
// (Chan, Golub & LeVeque 1983, eq. 1.7): M2 = Σ(x−m)² − (Σ(x−m))²/n with m the block's plain mean.
// The correction term cancels the error of m itself (on data offset by 1e9, m is only good to
// ~1e-6), so the result is at least as accurate as Welford's; the mean is returned relative to the
// caller's shift k as (m − k) + Σ(x−m)/n, where m − k is exact when m and k are within a factor 2.
// The passes over an L1-resident block run in eight SSE2 lanes (detail/lanes.hpp), with no division
// per sample; the n % 8 tail is scalar.
template <class T>
struct block_moments {
  T mean;  // mean of x − k
  T m2;
};

template <class T>
[[nodiscard]] constexpr block_moments<T> corrected_two_pass(const T* p, std::size_t n, T k) noexcept {
  const std::size_t body = n - n % lane_count;
  T sum = lane_sum(p, body);
  for (std::size_t i = body; i < n; ++i) {
    sum += p[i];
  }
  const T nn = static_cast<T>(n);
  const T m = sum / nn;

  auto dev = lane_deviation_sums(p, body, m);
  for (std::size_t i = body; i < n; ++i) {
    const T e = p[i] - m;
    dev.sum += e;
    dev.sum_sq += e * e;
  }
  const T m2 = dev.sum_sq - dev.sum * dev.sum / nn;
  return {(m - k) + dev.sum / nn, m2 < T(0) ? T(0) : m2};
}

}  // namespace detail

// Running mean and variance by Welford's update (Welford 1962; Knuth TAOCP vol. 2, 4.2.2) on data
// shifted by its first finite sample K (y = x − K, the "shifted data" of Chan, Golub & LeVeque 1983):
//   n += 1;  d = y − mean;  mean += d / n;  M2 += d · (y − mean);     mean() = K + mean
// M2 (the sum of squared deviations) never goes negative and never suffers the cancellation of
// Σx² − n·mean². Why the shift: unshifted, the running mean of data offset by 1e9 is rounded to
// ulp(1e9) ≈ 1.2e-7 at every update and that error lands in M2 — 1.4e-8 relative on
// Exponential(1) + 1e9 (Boost's tag::variance: 3e-7); shifted, the updates work on O(σ) numbers
// and the result keeps ~15 digits (bench/results.md, Accuracy). NIST StRD: LRE ≥ 15 on
// Lottery/Lew/NumAcc1/NumAcc2, ≥ 12 on Mavro.
//
// Conventions (the divisor is in the name):
//   sample_variance()     M2 / (n − 1)   NumPy ddof=1, pandas .var() default; also value()
//   population_variance() M2 / n         NumPy ddof=0, pandas ddof=0
//   stddev()              sqrt(sample_variance())
//   population_stddev()   sqrt(population_variance())
// Below the minimum count: mean() is NaN for n = 0; the sample getters are NaN for n < 2; the
// population getters are NaN for n = 0 (and 0 for n = 1).
// Non-finite input propagates (IEEE): one NaN or Inf makes mean and variance NaN until reset().
//
// Mergeable exactly by Chan, Golub & LeVeque's pairwise formula (see merge()).
template <class T>
class variance {
  STREAMSTATS_REQUIRE_SCALAR(T);
  friend struct detail::state_access;

 public:
  using value_type = T;

  constexpr variance() noexcept = default;

  // The reciprocal 1/n depends only on the counter, so the CPU computes it ahead, off the
  // loop-carried chain mean → d → mean (sub, mul, add), instead of a division on that chain
  // (≈13 cycles of latency): twice the throughput. d·(1/n) differs from d/n by one rounding of
  // 1/n, i.e. by ≤ 1 ulp of the increment, far below the mean's own rounding.
  constexpr void push(const T& x) noexcept {
    if (n_ == 0 && detail::is_finite(x)) {
      shift_ = x;
    }
    ++n_;
    const T inv_n = T(1) / static_cast<T>(n_);
    const T y = x - shift_;  // off the chain too: depends on x only
    const T d = y - mean_;
    mean_ += d * inv_n;
    m2_ += d * (y - mean_);
  }
  constexpr void operator()(const T& x) noexcept { push(x); }

  // Batch ingest. Contiguous input is cut into blocks of 256 samples; each block's (mean, M2) comes
  // from the corrected two-pass algorithm and is merged in by Chan's formula. Identical to the
  // scalar loop up to rounding (≈1e-15 relative on well-conditioned data), with no division and no
  // loop-carried dependency per sample.
  template <class It>
  constexpr void push(It first, It last) {
    detail::for_range<T>(
        first, last,
        [this](const T* p, std::size_t n) {
          constexpr std::size_t block = 256;
          if (n_ == 0 && detail::is_finite(p[0])) {
            shift_ = p[0];
          }
          while (n > 0) {
            const std::size_t k = n < block ? n : block;
            const auto b = detail::corrected_two_pass(p, k, shift_);
            merge_moments(k, b.mean, b.m2);
            p += k;
            n -= k;
          }
        },
        [this](const T& x) { push(x); });
  }

  [[nodiscard]] constexpr std::size_t count() const noexcept { return n_; }
  // NaN when count() == 0.
  [[nodiscard]] constexpr T mean() const noexcept {
    return n_ == 0 ? detail::quiet_nan<T>() : shift_ + mean_;
  }
  // M2 / (n − 1); NaN when count() < 2.
  [[nodiscard]] constexpr T sample_variance() const noexcept { return detail::variance_from_m2(m2_, n_, 1); }
  // M2 / n; NaN when count() == 0.
  [[nodiscard]] constexpr T population_variance() const noexcept {
    return detail::variance_from_m2(m2_, n_, 0);
  }
  // sqrt(M2 / (n − 1)); NaN when count() < 2.
  [[nodiscard]] T stddev() const noexcept { return std::sqrt(sample_variance()); }
  // sqrt(M2 / n); NaN when count() == 0.
  [[nodiscard]] T population_stddev() const noexcept { return std::sqrt(population_variance()); }
  // The primary result: sample_variance().
  [[nodiscard]] constexpr T value() const noexcept { return sample_variance(); }
  // Sum of squared deviations from the mean, Σ(x − mean)² (0 when empty).
  [[nodiscard]] constexpr T sum_of_squares() const noexcept { return m2_; }

  constexpr void reset() noexcept {
    n_ = 0;
    shift_ = T(0);
    mean_ = T(0);
    m2_ = T(0);
  }

  // Chan, Golub & LeVeque (1979): for parts a and b with δ = mean_b − mean_a, n = n_a + n_b,
  //   mean = mean_a + δ·n_b/n,  M2 = M2_a + M2_b + δ²·n_a·n_b/n.
  // The other part's mean is re-expressed around this shift: (K_b − K_a) + mean_b, where K_b − K_a is
  // exact when the shifts are within a factor 2 of each other (Sterbenz), as shards of one stream are.
  constexpr void merge(const variance& other) noexcept {
    if (n_ == 0) {
      shift_ = other.shift_;
      mean_ = T(0);
    }
    merge_moments(other.n_, (other.shift_ - shift_) + other.mean_, other.m2_);
  }
  constexpr variance& operator+=(const variance& other) noexcept {
    merge(other);
    return *this;
  }

 private:
  // Chan's merge of (nb, mean_b, M2_b), mean_b expressed around shift_ like mean_.
  constexpr void merge_moments(std::size_t nb, T mean_b, T m2_b) noexcept {
    if (nb == 0) {
      return;
    }
    if (n_ == 0) {
      n_ = nb;
      mean_ = mean_b;
      m2_ = m2_b;
      return;
    }
    const T na = static_cast<T>(n_);
    const T nbt = static_cast<T>(nb);
    const T n = na + nbt;
    const T delta = mean_b - mean_;
    mean_ += delta * (nbt / n);
    m2_ += m2_b + delta * delta * (na * nbt / n);
    n_ += nb;
  }

  std::size_t n_ = 0;
  T shift_{};  // K: the first finite sample (0 until then)
  T mean_{};   // mean of x − K
  T m2_{};
};

}  // namespace streamstats
