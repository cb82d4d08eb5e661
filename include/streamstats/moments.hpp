// streamstats — running mean, variance, skewness and kurtosis.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/detail/common.hpp>
#include <streamstats/variance.hpp>

#include <cmath>
#include <cstddef>

namespace streamstats {

// Mean, variance, skewness and excess kurtosis from centred moment updates (Terriberry 2007,
// Pébay 2008, SAND2008-6212 eq. 2.1–2.4), never from raw power sums Σx³, Σx⁴, which lose every digit
// once the mean is large against the spread (data offset by 1e9).
//
// Conventions:
//   skewness()         g1 = sqrt(n)·M3 / M2^1.5            population, scipy.stats.skew(bias=True), Boost
//   kurtosis()         g2 = n·M4 / M2² − 3 (excess)         scipy.stats.kurtosis(bias=True), Boost − 3
//   sample_skewness()  G1 = g1·sqrt(n(n−1))/(n−2)           pandas Series.skew(), Excel SKEW
//   sample_kurtosis()  G2 = ((n+1)·g2 + 6)·(n−1)/((n−2)(n−3)) pandas Series.kurt(), Excel KURT
// Below the minimum count the result is NaN: n < 2 for g1/g2, n < 3 for G1, n < 4 for G2. With zero
// variance (a constant series) skewness and kurtosis are 0, as in pandas.
// mean() and the variance getters follow variance<T>; value() is sample_variance().
// Non-finite input propagates (IEEE) until reset().
template <class T>
class moments {
  STREAMSTATS_REQUIRE_SCALAR(T);
  friend struct detail::state_access;

 public:
  using value_type = T;

  constexpr moments() noexcept = default;

  constexpr void push(const T& x) noexcept {
    if (n_ == 0 && detail::is_finite(x)) {
      shift_ = x;
    }
    const T n1 = static_cast<T>(n_);
    ++n_;
    const T n = static_cast<T>(n_);
    // Updates run on y = x − K, K the first finite sample (as variance<T>): the running mean of data
    // offset by 1e9 would otherwise be rounded to ulp(1e9) at every update, and M2..M4 inherit it.
    const T delta = (x - shift_) - mean_;
    const T delta_n = delta / n;
    const T delta_n2 = delta_n * delta_n;
    const T term1 = delta * delta_n * n1;
    mean_ += delta_n;
    // Order matters: M4 uses the old M3 and M2, M3 uses the old M2.
    m4_ += term1 * delta_n2 * (n * n - T(3) * n + T(3)) + T(6) * delta_n2 * m2_ - T(4) * delta_n * m3_;
    m3_ += term1 * delta_n * (n - T(2)) - T(3) * delta_n * m2_;
    m2_ += term1;
  }
  constexpr void operator()(const T& x) noexcept { push(x); }

  template <class It>
  constexpr void push(It first, It last) {
    for (; first != last; ++first) {
      push(static_cast<T>(*first));
    }
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
  [[nodiscard]] T stddev() const noexcept { return std::sqrt(sample_variance()); }
  [[nodiscard]] T population_stddev() const noexcept { return std::sqrt(population_variance()); }
  [[nodiscard]] constexpr T value() const noexcept { return sample_variance(); }

  // g1 (population); NaN when count() < 2, 0 for zero variance.
  [[nodiscard]] T skewness() const noexcept {
    if (n_ < 2) {
      return detail::quiet_nan<T>();
    }
    if (!(m2_ > T(0))) {
      return m2_ == T(0) ? T(0) : detail::quiet_nan<T>();
    }
    return std::sqrt(static_cast<T>(n_)) * m3_ / (m2_ * std::sqrt(m2_));
  }
  // g2 (population, excess: 0 for a normal distribution); NaN when count() < 2, 0 for zero variance.
  [[nodiscard]] T kurtosis() const noexcept {
    if (n_ < 2) {
      return detail::quiet_nan<T>();
    }
    if (!(m2_ > T(0))) {
      return m2_ == T(0) ? T(0) : detail::quiet_nan<T>();
    }
    return static_cast<T>(n_) * m4_ / (m2_ * m2_) - T(3);
  }
  // G1 (adjusted Fisher–Pearson, pandas .skew()); NaN when count() < 3.
  [[nodiscard]] T sample_skewness() const noexcept {
    if (n_ < 3) {
      return detail::quiet_nan<T>();
    }
    const T n = static_cast<T>(n_);
    return skewness() * std::sqrt(n * (n - T(1))) / (n - T(2));
  }
  // G2 (unbiased excess kurtosis, pandas .kurt()); NaN when count() < 4.
  [[nodiscard]] T sample_kurtosis() const noexcept {
    if (n_ < 4) {
      return detail::quiet_nan<T>();
    }
    const T n = static_cast<T>(n_);
    return ((n + T(1)) * kurtosis() + T(6)) * (n - T(1)) / ((n - T(2)) * (n - T(3)));
  }

  constexpr void reset() noexcept { *this = moments{}; }

  // Pébay (2008) eq. 3.1 with δ = mean_b − mean_a, n = n_a + n_b:
  //   M2 = M2a + M2b + δ²·na·nb/n
  //   M3 = M3a + M3b + δ³·na·nb·(na − nb)/n² + 3δ·(na·M2b − nb·M2a)/n
  //   M4 = M4a + M4b + δ⁴·na·nb·(na² − na·nb + nb²)/n³ + 6δ²·(na²·M2b + nb²·M2a)/n² + 4δ·(na·M3b − nb·M3a)/n
  constexpr void merge(const moments& o) noexcept {
    if (o.n_ == 0) {
      return;
    }
    if (n_ == 0) {
      *this = o;
      return;
    }
    const T na = static_cast<T>(n_);
    const T nb = static_cast<T>(o.n_);
    const T n = na + nb;
    // Both means are kept around their own shift; express the other's around ours.
    const T d = ((o.shift_ - shift_) + o.mean_) - mean_;
    const T d2 = d * d;
    const T m2 = m2_ + o.m2_ + d2 * na * nb / n;
    const T m3 =
        m3_ + o.m3_ + d2 * d * na * nb * (na - nb) / (n * n) + T(3) * d * (na * o.m2_ - nb * m2_) / n;
    const T m4 = m4_ + o.m4_ + d2 * d2 * na * nb * (na * na - na * nb + nb * nb) / (n * n * n) +
                 T(6) * d2 * (na * na * o.m2_ + nb * nb * m2_) / (n * n) +
                 T(4) * d * (na * o.m3_ - nb * m3_) / n;
    mean_ += d * nb / n;
    m2_ = m2;
    m3_ = m3;
    m4_ = m4;
    n_ += o.n_;
  }
  constexpr moments& operator+=(const moments& o) noexcept {
    merge(o);
    return *this;
  }

 private:
  std::size_t n_ = 0;
  T mean_{};
  T m2_{};
  T m3_{};
  T m4_{};
  T shift_{};  // K: the first finite sample (0 until then)
};

}  // namespace streamstats
