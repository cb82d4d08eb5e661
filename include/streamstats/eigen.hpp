// streamstats — Eigen layer: accumulators over fixed-size Eigen vectors, covariance, Mahalanobis.
// Needs Eigen 3.4 (CMake target streamstats::eigen).
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/streamstats.hpp>

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

}  // namespace streamstats::eigen
