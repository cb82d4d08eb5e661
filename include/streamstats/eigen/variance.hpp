// streamstats — Eigen layer: Welford mean and variance of fixed-size vectors, per component.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/eigen/traits.hpp>
#include <streamstats/variance.hpp>

#include <Eigen/Core>

#include <cstddef>

namespace streamstats {

// variance<Eigen::Matrix<T, D, 1>>: variance<T>'s algorithm on every component at once — Welford's
// update (Welford 1962) on the data shifted by the first sample K (Chan, Golub & LeVeque 1983), so
// that data offset far from zero keeps its digits:
//   y = x − K;  n += 1;  d = y − mean;  mean += d / n;  M2 += d ∘ (y − mean)   (∘: cwiseProduct)
// Each component equals variance<T> on that component bit for bit (tested), with the same getters,
// conventions and NaN rules as variance<T>, each returning a vector:
//   sample_variance()     M2 / (n − 1), NaN when count() < 2       (NumPy ddof=1)
//   population_variance() M2 / n,       NaN when count() == 0      (NumPy ddof=0)
//   stddev(), population_stddev()       their square roots
// For the cross terms use covariance<T, D>. Mergeable by Chan et al.'s formula, per component.
template <class Scalar, int Rows, int Cols, int Options, int MaxRows, int MaxCols>
class variance<Eigen::Matrix<Scalar, Rows, Cols, Options, MaxRows, MaxCols>> {
  friend struct detail::state_access;
  using V = Eigen::Matrix<Scalar, Rows, Cols, Options, MaxRows, MaxCols>;
  STREAMSTATS_REQUIRE_FIXED_VECTOR(V);

 public:
  using value_type = V;
  using scalar_type = Scalar;

  variance() noexcept = default;

  void push(const V& x) noexcept {
    if (n_ == 0) {
      // K per component: the first sample where it is finite, 0 where not (as variance<T>, whose
      // shift is the first finite sample: a component that starts NaN stays NaN anyway).
      shift_ = (x.array() - x.array() == Scalar(0)).select(x.array(), Scalar(0)).matrix();
    }
    ++n_;
    const Scalar inv_n = Scalar(1) / static_cast<Scalar>(n_);
    const V y = x - shift_;
    const V d = y - mean_;
    mean_ += d * inv_n;
    const V d_after = y - mean_;
    m2_ += d.cwiseProduct(d_after);
  }
  void operator()(const V& x) noexcept { push(x); }

  template <class It>
  void push(It first, It last) {
    for (; first != last; ++first) {
      push(*first);
    }
  }

  [[nodiscard]] std::size_t count() const noexcept { return n_; }
  // All NaN when count() == 0.
  [[nodiscard]] V mean() const noexcept { return n_ == 0 ? eigen::detail::nan<V>() : V(shift_ + mean_); }
  // M2 / (n − 1); all NaN when count() < 2.
  [[nodiscard]] V sample_variance() const noexcept { return divided(1); }
  // M2 / n; all NaN when count() == 0.
  [[nodiscard]] V population_variance() const noexcept { return divided(0); }
  [[nodiscard]] V stddev() const noexcept { return sample_variance().cwiseSqrt(); }
  [[nodiscard]] V population_stddev() const noexcept { return population_variance().cwiseSqrt(); }
  // The primary result: sample_variance().
  [[nodiscard]] V value() const noexcept { return sample_variance(); }
  // Σ(x − mean)² per component (0 when empty).
  [[nodiscard]] V sum_of_squares() const noexcept { return m2_; }

  void reset() noexcept {
    n_ = 0;
    shift_ = eigen::detail::zero<V>();
    mean_ = eigen::detail::zero<V>();
    m2_ = eigen::detail::zero<V>();
  }

  // Chan, Golub & LeVeque (1979), per component: δ = mean_b − mean_a (both around this shift; the
  // other part's mean is re-expressed as (K_b − K_a) + mean_b, exact when the shifts are within a
  // factor 2, as in variance<T>), n = n_a + n_b,
  //   mean = mean_a + δ·n_b/n,  M2 = M2_a + M2_b + δ∘δ·n_a·n_b/n.
  void merge(const variance& other) noexcept {
    if (other.n_ == 0) {
      return;
    }
    if (n_ == 0) {
      *this = other;
      return;
    }
    const auto na = static_cast<Scalar>(n_);
    const auto nb = static_cast<Scalar>(other.n_);
    const Scalar n = na + nb;
    const V mean_b = (other.shift_ - shift_) + other.mean_;
    const V delta = mean_b - mean_;
    mean_ += delta * (nb / n);
    m2_ += other.m2_ + delta.cwiseProduct(delta) * (na * nb / n);
    n_ += other.n_;
  }
  variance& operator+=(const variance& other) noexcept {
    merge(other);
    return *this;
  }

 private:
  [[nodiscard]] V divided(std::size_t ddof) const noexcept {
    if (n_ <= ddof) {
      return eigen::detail::nan<V>();
    }
    // Clamped at 0 like detail::variance_from_m2, so that cwiseSqrt is always defined; NaN (from
    // non-finite input) is kept, which cwiseMax would not promise.
    const V clamped = (m2_.array() < Scalar(0)).select(Scalar(0), m2_.array()).matrix();
    return clamped / static_cast<Scalar>(n_ - ddof);
  }

  std::size_t n_ = 0;
  V shift_ = eigen::detail::zero<V>();  // K: the first sample (its finite components)
  V mean_ = eigen::detail::zero<V>();   // mean of x − K
  V m2_ = eigen::detail::zero<V>();
};

}  // namespace streamstats
