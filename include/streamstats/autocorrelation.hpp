// streamstats — streaming lag-1 autocorrelation.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/detail/common.hpp>
#include <streamstats/variance.hpp>

#include <cstddef>

namespace streamstats {

// Lag-1 sample autocorrelation, with the definition NIST StRD certifies (and statsmodels' acf):
//   r(1) = Σ_{i=2..n} (x_i − x̄)(x_{i−1} − x̄) / Σ_{i=1..n} (x_i − x̄)²,   x̄ the mean of all n samples.
//
// Both sums are kept centred on the running mean, so nothing cancels catastrophically. The lagged
// co-moment D_n = Σ_{i<n} (x_i − m_n)(x_{i+1} − m_n) is re-centred when the mean moves by e:
//   D_{n+1} = D_n − e·(A_n + B_n) + (n − 1)·e² + (x_n − m_{n+1})(x_{n+1} − m_{n+1}),
//   A_n = Σ_{i<n}(x_i − m_n) = m_n − x_n,   B_n = Σ_{1<i≤n}(x_i − m_n) = m_n − x_1.
// NIST StRD: LRE ≥ 12 on every set but NumAcc3 (≥ 11) and NumAcc4 (≥ 10), where the rounding of
// the inputs themselves caps every double-precision method.
//
// value() is NaN when count() < 2 or when the variance is zero.
// mean() and the variance getters are those of the samples seen (as variance<T>).
// merge(other) appends: `a.merge(b)` equals pushing b's samples after a's (order matters).
// Non-finite input propagates (IEEE) until reset().
template <class T>
class autocorrelation {
  STREAMSTATS_REQUIRE_SCALAR(T);
  friend struct detail::state_access;

 public:
  using value_type = T;

  constexpr autocorrelation() noexcept = default;

  constexpr void push(const T& x) noexcept {
    if (n_ == 0) {
      n_ = 1;
      mean_ = x;
      first_ = x;
      last_ = x;
      return;
    }
    const T n = static_cast<T>(n_);
    const T delta = x - mean_;
    const T e = delta / (n + T(1));
    const T new_mean = mean_ + e;
    // A_n + B_n = 2·m_n − x_n − x_1
    d_ +=
        -e * ((mean_ - last_) + (mean_ - first_)) + (n - T(1)) * e * e + (last_ - new_mean) * (x - new_mean);
    m2_ += delta * (x - new_mean);
    mean_ = new_mean;
    last_ = x;
    ++n_;
  }
  constexpr void operator()(const T& x) noexcept { push(x); }

  template <class It>
  constexpr void push(It first, It last) {
    for (; first != last; ++first) {
      push(static_cast<T>(*first));
    }
  }

  [[nodiscard]] constexpr std::size_t count() const noexcept { return n_; }
  // r(1); NaN when count() < 2 or all samples are equal.
  [[nodiscard]] constexpr T value() const noexcept {
    if (n_ < 2 || !(m2_ > T(0))) {
      return detail::quiet_nan<T>();
    }
    return d_ / m2_;
  }
  [[nodiscard]] constexpr T mean() const noexcept { return n_ == 0 ? detail::quiet_nan<T>() : mean_; }
  [[nodiscard]] constexpr T sample_variance() const noexcept { return detail::variance_from_m2(m2_, n_, 1); }
  [[nodiscard]] constexpr T population_variance() const noexcept {
    return detail::variance_from_m2(m2_, n_, 0);
  }

  constexpr void reset() noexcept { *this = autocorrelation{}; }

  // Appends `o` (whose samples came after ours). Each part's lagged co-moment is re-centred on the
  // combined mean m (same identity as in push, with e = m − m_part), then the pair that straddles
  // the boundary, (x_last_a − m)(x_first_b − m), is added.
  constexpr void merge(const autocorrelation& o) noexcept {
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
    const T delta = o.mean_ - mean_;
    const T m = mean_ + delta * nb / n;
    const T ea = m - mean_;
    const T eb = m - o.mean_;
    const T da = d_ - ea * ((mean_ - last_) + (mean_ - first_)) + (na - T(1)) * ea * ea;
    const T db = o.d_ - eb * ((o.mean_ - o.last_) + (o.mean_ - o.first_)) + (nb - T(1)) * eb * eb;
    d_ = da + db + (last_ - m) * (o.first_ - m);
    m2_ += o.m2_ + delta * delta * na * nb / n;
    mean_ = m;
    last_ = o.last_;
    n_ += o.n_;
  }
  constexpr autocorrelation& operator+=(const autocorrelation& o) noexcept {
    merge(o);
    return *this;
  }

 private:
  std::size_t n_ = 0;
  T mean_{};
  T m2_{};
  T d_{};
  T first_{};
  T last_{};
};

}  // namespace streamstats
