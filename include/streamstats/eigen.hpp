// streamstats — Eigen layer: accumulators over fixed-size Eigen vectors, covariance, Mahalanobis.
// Needs Eigen 3.4 (CMake target streamstats::eigen).
//
// The core accumulators accept fixed-size Eigen column vectors under their usual names, by partial
// specialisation: mean<Eigen::Vector3d>, variance<Eigen::Vector3d>, ema<Eigen::Vector3d> work per
// component with the scalar versions' conventions and getters (returning vectors). Added here:
// covariance<T, D> (streaming covariance matrix, mergeable) and mahalanobis_detector<T, D>.
// Eigen::Dynamic sizes are refused at compile time: they allocate.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/streamstats.hpp>

#include <streamstats/eigen/traits.hpp>

#include <streamstats/eigen/covariance.hpp>
#include <streamstats/eigen/ema.hpp>
#include <streamstats/eigen/mahalanobis_detector.hpp>
#include <streamstats/eigen/mean.hpp>
#include <streamstats/eigen/state.hpp>
#include <streamstats/eigen/variance.hpp>
