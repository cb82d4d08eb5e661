// streamstats — Eigen layer: compensated running mean of fixed-size vectors, per component.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/eigen/traits.hpp>
#include <streamstats/mean.hpp>

#include <Eigen/Core>

#include <cstddef>

namespace streamstats {

// mean<Eigen::Matrix<T, D, 1>>: the same accumulator as mean<T>, applied to every component at once
// (a partial specialisation, so the name and the contract are the core's). Each component keeps its
// own Neumaier compensation (Neumaier 1974), computed branch-free with Eigen's select(), so the
// result equals D independent mean<T> accumulators bit for bit.
//
// value() is a vector; a component is NaN when count() == 0, and non-finite input follows IEEE per
// component, as in mean<T>. Mergeable.
template <class Scalar, int Rows, int Cols, int Options, int MaxRows, int MaxCols>
class mean<Eigen::Matrix<Scalar, Rows, Cols, Options, MaxRows, MaxCols>> {
  friend struct detail::state_access;
  using V = Eigen::Matrix<Scalar, Rows, Cols, Options, MaxRows, MaxCols>;
  STREAMSTATS_REQUIRE_FIXED_VECTOR(V);
  using A = Eigen::Array<Scalar, Rows, 1>;

 public:
  using value_type = V;
  using scalar_type = Scalar;

  mean() noexcept = default;

  void push(const V& x) noexcept {
    ++n_;
    add(x.array());
  }
  void operator()(const V& x) noexcept { push(x); }

  template <class It>
  void push(It first, It last) {
    for (; first != last; ++first) {
      push(*first);
    }
  }

  [[nodiscard]] std::size_t count() const noexcept { return n_; }
  // Per component: the compensated sum / n; all NaN when count() == 0.
  [[nodiscard]] V value() const noexcept {
    if (n_ == 0) {
      return eigen::detail::nan<V>();
    }
    return (sum() / static_cast<Scalar>(n_)).matrix();
  }
  // Per component compensated sum (0 when empty). With an infinite or NaN sum the compensation is
  // NaN (inf − inf), so that component's plain IEEE sum is returned, as neumaier_sum does.
  [[nodiscard]] A sum() const noexcept {
    const A finite_sum = sum_ + comp_;
    return ((sum_ - sum_) == A::Zero()).select(finite_sum, sum_);
  }

  void reset() noexcept {
    n_ = 0;
    sum_ = eigen::detail::zero<A>();
    comp_ = eigen::detail::zero<A>();
  }

  void merge(const mean& other) noexcept {
    n_ += other.n_;
    add(other.sum_);
    comp_ += other.comp_;
  }
  mean& operator+=(const mean& other) noexcept {
    merge(other);
    return *this;
  }

 private:
  // Neumaier's step for every component: the rounding error of sum + x is recovered from whichever
  // operand is larger in magnitude.
  void add(const A& x) noexcept {
    const A t = sum_ + x;
    const A if_sum_larger = (sum_ - t) + x;
    const A if_x_larger = (x - t) + sum_;
    comp_ += (sum_.abs() >= x.abs()).select(if_sum_larger, if_x_larger);
    sum_ = t;
  }

  std::size_t n_ = 0;
  A sum_ = eigen::detail::zero<A>();
  A comp_ = eigen::detail::zero<A>();
};

}  // namespace streamstats
