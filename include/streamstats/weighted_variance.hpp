// streamstats — weighted running mean and variance (frequency and reliability weights).
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/detail/common.hpp>
#include <streamstats/weighted_mean.hpp>

#include <cmath>
#include <cstddef>

namespace streamstats {

// Weighted mean and variance, updated incrementally by West's algorithm (West 1979) on data shifted
// by the first sample K with a positive weight (y = x − K, as variance<T> shifts):
//   W' = W + w;  d = y − mean;  mean += d·w/W';  S += w·d·(y − mean')
// where S = Σw(x − mean)² is the weighted sum of squared deviations, never formed from Σwx² − W·mean²
// (which cancels catastrophically on offset data). Also kept: W = Σw, W₂ = Σw², count().
//
// Two conventions for the weights, and a getter for each (the NumPy call each one matches):
//   mean()                 Σwx/W                        numpy.average(x, weights=w)
//   population_variance()  S / W                        numpy.cov(x, aweights=w, bias=True)
//                                                       = numpy.cov(x, fweights=w, bias=True)
//   frequency_variance()   S / (W − 1)                  numpy.cov(x, fweights=w) (ddof=1)
//       frequency weights: w is how many times x occurred (integers in NumPy); the result is the
//       sample variance of the data with every x repeated w times. Depends on the scale of w.
//   reliability_variance() S / (W − W₂/W)               numpy.cov(x, aweights=w) (ddof=1)
//       reliability (analytic, importance) weights: w is relative precision; the result is the
//       unbiased estimator for them and does not change when every w is multiplied by a constant.
//       With all weights equal it is the ordinary sample variance (n − 1).
//   value() = reliability_variance(); stddev() = sqrt(reliability_variance()),
//   population_stddev() = sqrt(population_variance()); effective_count() = W²/W₂ (Kish).
// Below the minimum count: mean() and the population getters are NaN while count() == 0 (0
// variance for one sample); frequency_variance() is NaN while W ≤ 1; reliability_variance() and
// stddev() are NaN while count() < 2. The variances are never negative.
//
// Weights: push(x, w) returns false and changes nothing for a negative, NaN or infinite w (counted
// by rejected()); w == 0 is accepted and changes nothing (as in NumPy, where it removes the sample).
// count() is the number of samples with a positive weight. Non-finite x with a positive weight
// follows IEEE, as variance<T>: the mean and variances become NaN (or ±Inf) until reset().
//
// Mergeable exactly (Chan, Golub & LeVeque with weights, see merge()).
template <class T>
class weighted_variance {
  friend struct detail::state_access;
  STREAMSTATS_REQUIRE_SCALAR(T);
  friend struct detail::state_access;

 public:
  using value_type = T;

  constexpr weighted_variance() noexcept = default;

  // Adds x with weight w; false (and nothing changes) when w is negative, NaN or infinite.
  constexpr bool push(const T& x, const T& w) noexcept {
    // One test for the common case, a positive finite weight (false for NaN too); the rest is rare.
    if (!detail::positive_finite_weight(w)) {
      const bool zero = w == T(0);
      rejected_ += zero ? 0U : 1U;
      return zero;
    }
    if (n_ == 0) {
      shift_ = detail::is_finite(x) ? x : T(0);
    }
    ++n_;
    const T y = x - shift_;
    sum_w_ += w;
    sum_w2_ += w * w;
    const T d = y - mean_;
    mean_ += d * (w / sum_w_);
    s_ += w * d * (y - mean_);
    return true;
  }
  constexpr bool operator()(const T& x, const T& w) noexcept { return push(x, w); }

  // Samples pushed with a positive weight since construction or reset().
  [[nodiscard]] constexpr std::size_t count() const noexcept { return n_; }
  // Pushes refused for a negative, NaN or infinite weight.
  [[nodiscard]] constexpr std::size_t rejected() const noexcept { return rejected_; }
  // W = Σw and W₂ = Σw² over the accepted samples (0 when empty).
  [[nodiscard]] constexpr T sum_of_weights() const noexcept { return sum_w_; }
  [[nodiscard]] constexpr T sum_of_squared_weights() const noexcept { return sum_w2_; }
  // Kish's effective sample size W²/W₂ (NaN when empty).
  [[nodiscard]] constexpr T effective_count() const noexcept {
    return n_ == 0 ? detail::quiet_nan<T>() : sum_w_ * sum_w_ / sum_w2_;
  }
  // S = Σw(x − mean)² (0 when empty).
  [[nodiscard]] constexpr T sum_of_squares() const noexcept { return clamped_s(); }

  // Σwx/W = numpy.average(x, weights=w); NaN when count() == 0.
  [[nodiscard]] constexpr T mean() const noexcept {
    return n_ == 0 ? detail::quiet_nan<T>() : shift_ + mean_;
  }
  // S/W = numpy.cov(x, aweights=w, bias=True); NaN when count() == 0, 0 for one sample.
  [[nodiscard]] constexpr T population_variance() const noexcept {
    return n_ == 0 ? detail::quiet_nan<T>() : clamped_s() / sum_w_;
  }
  // S/(W − 1) = numpy.cov(x, fweights=w); NaN while W ≤ 1.
  [[nodiscard]] constexpr T frequency_variance() const noexcept {
    return sum_w_ > T(1) ? clamped_s() / (sum_w_ - T(1)) : detail::quiet_nan<T>();
  }
  // S/(W − W₂/W) = numpy.cov(x, aweights=w); NaN while count() < 2.
  [[nodiscard]] constexpr T reliability_variance() const noexcept {
    if (n_ < 2) {
      return detail::quiet_nan<T>();
    }
    // W − W₂/W = (W² − W₂)/W = 2·Σ_{i<j} wᵢwⱼ / W > 0 for two positive weights; computed as W·(1 −
    // W₂/W²) to keep W² from overflowing for very large weights.
    const T denom = sum_w_ * (T(1) - (sum_w2_ / sum_w_) / sum_w_);
    return denom > T(0) ? clamped_s() / denom : detail::quiet_nan<T>();
  }
  // The primary result: reliability_variance().
  [[nodiscard]] constexpr T value() const noexcept { return reliability_variance(); }
  // sqrt(reliability_variance()); NaN while count() < 2.
  [[nodiscard]] T stddev() const noexcept { return std::sqrt(reliability_variance()); }
  // sqrt(population_variance()); NaN when count() == 0.
  [[nodiscard]] T population_stddev() const noexcept { return std::sqrt(population_variance()); }

  constexpr void reset() noexcept { *this = weighted_variance{}; }

  // For parts a and b with weights Wa, Wb, δ = mb − ma, W = Wa + Wb:
  //   mean = ma + δ·Wb/W,   S = Sa + Sb + δ²·Wa·Wb/W,   W₂ = W₂a + W₂b
  // (Chan, Golub & LeVeque's pairwise update with weights in place of counts; exact in real
  // arithmetic, so merging shards equals one pass up to rounding). The other part's mean is
  // re-expressed around this shift as (K_b − K_a) + mb. The rejected counts add.
  constexpr void merge(const weighted_variance& other) noexcept {
    rejected_ += other.rejected_;
    if (other.n_ == 0) {
      return;
    }
    if (n_ == 0) {
      const std::size_t rejected = rejected_;
      *this = other;
      rejected_ = rejected;
      return;
    }
    const T delta = ((other.shift_ - shift_) + other.mean_) - mean_;
    const T w = sum_w_ + other.sum_w_;
    const T fb = other.sum_w_ / w;
    mean_ += delta * fb;
    s_ += other.s_ + delta * delta * (sum_w_ * fb);
    sum_w_ = w;
    sum_w2_ += other.sum_w2_;
    n_ += other.n_;
  }
  constexpr weighted_variance& operator+=(const weighted_variance& other) noexcept {
    merge(other);
    return *this;
  }

 private:
  [[nodiscard]] constexpr T clamped_s() const noexcept { return s_ < T(0) ? T(0) : s_; }

  std::size_t n_ = 0;
  std::size_t rejected_ = 0;
  T shift_{};  // K: the first sample with a positive weight (0 if it was not finite)
  T mean_{};   // weighted mean of x − K
  T s_{};      // Σw(x − mean)²
  T sum_w_{};
  T sum_w2_{};
};

}  // namespace streamstats
