// streamstats — Eigen layer: which Eigen types are accepted, and how they are zeroed.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/detail/common.hpp>

#include <Eigen/Core>

#include <type_traits>

#if !EIGEN_VERSION_AT_LEAST(3, 4, 0)
#error "streamstats/eigen.hpp needs Eigen 3.4 or newer"
#endif

namespace streamstats::eigen {

// True for Eigen::Matrix<Scalar, Rows, 1> with a compile-time size (a column vector that never
// allocates) and a floating-point Scalar.
template <class V>
struct is_fixed_vector : std::false_type {};

template <class Scalar, int Rows, int Options, int MaxRows>
struct is_fixed_vector<Eigen::Matrix<Scalar, Rows, 1, Options, MaxRows, 1>>
    : std::bool_constant<Rows != Eigen::Dynamic && detail::is_supported_scalar_v<Scalar>> {};

template <class V>
inline constexpr bool is_fixed_vector_v = is_fixed_vector<V>::value;

// True for any Eigen::Matrix with a runtime (Eigen::Dynamic) row or column count.
template <class M>
struct is_dynamic_matrix : std::false_type {};

template <class Scalar, int Rows, int Cols, int Options, int MaxRows, int MaxCols>
struct is_dynamic_matrix<Eigen::Matrix<Scalar, Rows, Cols, Options, MaxRows, MaxCols>>
    : std::bool_constant<Rows == Eigen::Dynamic || Cols == Eigen::Dynamic> {};

}  // namespace streamstats::eigen

// The three checks every Eigen accumulator makes, in the order a user needs the answers: a
// Dynamic size first (the common mistake), then the shape, then the scalar.
#define STREAMSTATS_REQUIRE_FIXED_VECTOR(V)                                                         \
  static_assert(!::streamstats::eigen::is_dynamic_matrix<V>::value,                                 \
                "streamstats: Eigen::Dynamic sizes are refused (they allocate on the heap); use a " \
                "fixed-size vector such as Eigen::Vector3d or Eigen::Matrix<double, 8, 1>");        \
  static_assert(V::ColsAtCompileTime == 1,                                                          \
                "streamstats: Eigen samples must be column vectors (Eigen::Matrix<T, D, 1>)");      \
  static_assert(::streamstats::detail::is_supported_scalar_v<typename V::Scalar>,                   \
                "streamstats: the Eigen vector's scalar must be float, double or long double")

namespace streamstats::eigen::detail {

// A member `V v{}` leaves a fixed-size Eigen vector uninitialised (Eigen's default constructor does
// not zero), so every member is initialised through these.
template <class V>
[[nodiscard]] V zero() noexcept {
  return V::Zero();
}
template <class V>
[[nodiscard]] V nan() noexcept {
  return V::Constant(::streamstats::detail::quiet_nan<typename V::Scalar>());
}
template <class V>
[[nodiscard]] V constant(typename V::Scalar value) noexcept {
  return V::Constant(value);
}

// Every component finite (no NaN, no ±Inf).
template <class V>
[[nodiscard]] bool all_finite(const V& x) noexcept {
  return x.allFinite();
}

}  // namespace streamstats::eigen::detail
