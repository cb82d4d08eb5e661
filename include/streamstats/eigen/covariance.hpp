// streamstats — Eigen layer: streaming covariance matrix of fixed-size vectors.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/eigen/traits.hpp>

#include <Eigen/Core>

#include <cmath>
#include <cstddef>

namespace streamstats {

// Streaming mean and covariance of D-dimensional samples (Eigen::Matrix<T, D, 1>), by the
// multivariate Welford update of the co-moment matrix C = Σ (x − mean)(x − mean)ᵀ, on the data
// shifted by the first sample K as variance<T> does (y = x − K; the covariance does not change, and
// data offset by 1e9 keeps its digits — Chan, Golub & LeVeque 1983):
//   n += 1;  d = y − mean_old;  mean += d / n;  C += (n − 1)/n · d dᵀ
// ((y − mean_old)(y − mean_new)ᵀ = (n − 1)/n · d dᵀ; Welford 1962, Pébay 2008 eq. 3.12). Only the
// lower triangle is updated and mirrored, so C is exactly symmetric.
//
// Getters (conventions as variance<T>; the divisor is in the name):
//   mean()                   NaN vector when count() == 0
//   sample_covariance()      C / (n − 1), NumPy np.cov(ddof=1); NaN matrix when count() < 2
//   population_covariance()  C / n, np.cov(ddof=0); NaN matrix when count() == 0
//   correlation()            C_ij / sqrt(C_ii C_jj), np.corrcoef; NaN matrix when count() < 2, and
//                            NaN in row and column i when component i has zero variance
//   co_moment()              C itself (zero when empty)
// Non-finite input follows IEEE arithmetic (NaN spreads to the affected rows and columns).
// Mergeable by Chan, Golub & LeVeque's pairwise formula for the co-moment matrix (see merge()).
// O(D²) per sample, no allocation (fixed-size storage only).
template <class T, int D>
class covariance {
  friend struct detail::state_access;
  static_assert(D != Eigen::Dynamic,
                "streamstats::covariance: Eigen::Dynamic sizes are refused (they allocate on the heap); "
                "give the dimension at compile time, e.g. covariance<double, 3>");
  static_assert(D > 0, "streamstats::covariance: the dimension D must be positive");
  STREAMSTATS_REQUIRE_SCALAR(T);

 public:
  using value_type = Eigen::Matrix<T, D, 1>;
  using matrix_type = Eigen::Matrix<T, D, D>;
  using scalar_type = T;
  static constexpr int dimension = D;

  covariance() noexcept = default;

  void push(const value_type& x) noexcept {
    if (n_ == 0) {
      shift_ = (x.array() - x.array() == T(0)).select(x.array(), T(0)).matrix();  // finite components
    }
    ++n_;
    const value_type d = (x - shift_) - mean_;
    const T n = static_cast<T>(n_);
    mean_ += d / n;
    add_outer(d, (n - T(1)) / n);
  }
  void operator()(const value_type& x) noexcept { push(x); }

  template <class It>
  void push(It first, It last) {
    for (; first != last; ++first) {
      push(*first);
    }
  }

  [[nodiscard]] std::size_t count() const noexcept { return n_; }
  [[nodiscard]] value_type mean() const noexcept {
    return n_ == 0 ? eigen::detail::nan<value_type>() : value_type(shift_ + mean_);
  }
  [[nodiscard]] matrix_type sample_covariance() const noexcept { return divided(1); }
  [[nodiscard]] matrix_type population_covariance() const noexcept { return divided(0); }
  // The primary result: sample_covariance().
  [[nodiscard]] matrix_type value() const noexcept { return sample_covariance(); }
  [[nodiscard]] const matrix_type& co_moment() const noexcept { return c_; }
  // Per component sample variance: the diagonal of sample_covariance().
  [[nodiscard]] value_type sample_variance() const noexcept { return divided(1).diagonal(); }

  [[nodiscard]] matrix_type correlation() const noexcept {
    if (n_ < 2) {
      return eigen::detail::nan<matrix_type>();
    }
    // 1/sqrt(C_ii); a zero variance gives +Inf here and NaN below (0 · Inf), as np.corrcoef does.
    const value_type inv_sd = c_.diagonal().cwiseSqrt().cwiseInverse();
    matrix_type r = matrix_type::Zero();
    for (int j = 0; j < D; ++j) {
      for (int i = 0; i < D; ++i) {
        r(i, j) = c_(i, j) * inv_sd(i) * inv_sd(j);
      }
    }
    // Rounding can push |r| a hair above 1; the diagonal is exactly 1 when the variance is > 0.
    for (int i = 0; i < D; ++i) {
      if (r(i, i) == r(i, i)) {
        r(i, i) = T(1);
      }
    }
    return r;
  }

  void reset() noexcept {
    n_ = 0;
    shift_ = eigen::detail::zero<value_type>();
    mean_ = eigen::detail::zero<value_type>();
    c_ = eigen::detail::zero<matrix_type>();
  }

  // Chan, Golub & LeVeque (1979), the co-moment form: with δ = mean_b − mean_a and n = n_a + n_b,
  //   mean = mean_a + δ · n_b/n,   C = C_a + C_b + δ δᵀ · n_a n_b / n.
  void merge(const covariance& other) noexcept {
    if (other.n_ == 0) {
      return;
    }
    if (n_ == 0) {
      *this = other;
      return;
    }
    const T na = static_cast<T>(n_);
    const T nb = static_cast<T>(other.n_);
    const T n = na + nb;
    // The other part's mean around this shift: (K_b − K_a) + mean_b, exact when the shifts are
    // within a factor 2 (Sterbenz), as shards of one stream are.
    const value_type mean_b = (other.shift_ - shift_) + other.mean_;
    const value_type delta = mean_b - mean_;
    mean_ += delta * (nb / n);
    c_ += other.c_;
    add_outer(delta, na * nb / n);
    n_ += other.n_;
  }
  covariance& operator+=(const covariance& other) noexcept {
    merge(other);
    return *this;
  }

 private:
  // C += w · d dᵀ on the lower triangle, mirrored: exact symmetry, half the multiplications.
  void add_outer(const value_type& d, T w) noexcept {
    for (int j = 0; j < D; ++j) {
      const T wdj = w * d(j);
      for (int i = j; i < D; ++i) {
        c_(i, j) += d(i) * wdj;
        c_(j, i) = c_(i, j);
      }
    }
  }

  [[nodiscard]] matrix_type divided(std::size_t ddof) const noexcept {
    if (n_ <= ddof) {
      return eigen::detail::nan<matrix_type>();
    }
    return c_ / static_cast<T>(n_ - ddof);
  }

  std::size_t n_ = 0;
  value_type shift_ = eigen::detail::zero<value_type>();  // K: the first sample (finite components)
  value_type mean_ = eigen::detail::zero<value_type>();   // mean of x − K
  matrix_type c_ = eigen::detail::zero<matrix_type>();
};

}  // namespace streamstats
