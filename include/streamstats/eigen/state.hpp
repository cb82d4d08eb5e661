// streamstats — Eigen layer: saving and restoring states (the format of <streamstats/state.hpp>).
// SPDX-License-Identifier: MIT
//
// Adds the Eigen types to save_state / load_state: mean, variance and ema of fixed-size vectors,
// covariance<T, D> and mahalanobis_detector<T, D>. A vector or matrix is written component by
// component in column-major order, each as its scalar (docs/state-format.md), whatever its storage
// options, so the bytes are the same on every platform.
#pragma once

#include <streamstats/eigen/covariance.hpp>
#include <streamstats/eigen/ema.hpp>
#include <streamstats/eigen/mahalanobis_detector.hpp>
#include <streamstats/eigen/mean.hpp>
#include <streamstats/eigen/traits.hpp>
#include <streamstats/eigen/variance.hpp>
#include <streamstats/state.hpp>

#include <Eigen/Core>

#include <cstdint>
#include <type_traits>

namespace streamstats::detail {

// A fixed-size column vector in the tag: its scalar's code and its dimension.
template <class Scalar, int Rows, int Options, int MaxRows>
struct state_value_tag<Eigen::Matrix<Scalar, Rows, 1, Options, MaxRows, 1>> {
  static_assert(std::is_same_v<Scalar, float> || std::is_same_v<Scalar, double>,
                "streamstats::save_state/load_state: states of long double vectors are not portable; use "
                "double or float");
  static_assert(Rows > 0, "streamstats: only fixed-size Eigen vectors have a state");
  static constexpr unsigned char scalar = std::is_same_v<Scalar, float> ? 1 : 2;
  static constexpr std::uint32_t dimension = static_cast<std::uint32_t>(Rows);
};

// Fixed-size matrices and arrays: every coefficient, column-major.
template <class M>
struct eigen_state_codec {
  template <class Io>
  static void io(Io& io, M& m) noexcept {
    static_assert(M::RowsAtCompileTime != Eigen::Dynamic && M::ColsAtCompileTime != Eigen::Dynamic,
                  "streamstats: only fixed-size Eigen objects have a state");
    for (Eigen::Index j = 0; j < m.cols(); ++j) {
      for (Eigen::Index i = 0; i < m.rows(); ++i) {
        io(m(i, j));
      }
    }
  }
};
template <class Scalar, int R, int C, int O, int MR, int MC>
struct state_codec<Eigen::Matrix<Scalar, R, C, O, MR, MC>>
    : eigen_state_codec<Eigen::Matrix<Scalar, R, C, O, MR, MC>> {};
template <class Scalar, int R, int C, int O, int MR, int MC>
struct state_codec<Eigen::Array<Scalar, R, C, O, MR, MC>>
    : eigen_state_codec<Eigen::Array<Scalar, R, C, O, MR, MC>> {};

template <class W, class T, int D>
void state_access::tag(W& w, state_type<covariance<T, D>> /*unused*/) noexcept {
  head<W, typename covariance<T, D>::value_type>(w, state_kind::covariance);
}

template <class W, class T, int D>
void state_access::tag(W& w, state_type<mahalanobis_detector<T, D>> /*unused*/) noexcept {
  head<W, typename mahalanobis_detector<T, D>::value_type>(w, state_kind::mahalanobis_detector);
}

template <class T, int D, class Io>
void state_access::fields(covariance<T, D>& a, Io& io) noexcept {
  io(a.n_);
  io(a.shift_);
  io(a.mean_);
  io(a.c_);
  if constexpr (Io::loading) {
    if (!io.require(a.n_ > 0 || (a.shift_.isZero(T(0)) && a.mean_.isZero(T(0)) && a.c_.isZero(T(0))),
                    "covariance: an empty state with a non-zero mean or co-moment")) {
      return;
    }
    // The update mirrors the lower triangle: the co-moment matrix is exactly symmetric.
    bool symmetric = true;
    for (int j = 0; j < D; ++j) {
      for (int i = j + 1; i < D; ++i) {
        symmetric = symmetric && same_bits(a.c_(i, j), a.c_(j, i));
      }
      symmetric = symmetric && !(a.c_(j, j) < T(0));
    }
    io.require(symmetric, "covariance: the co-moment matrix is not symmetric or has a negative diagonal");
  }
}

template <class T, int D, class Io>
void state_access::fields(mahalanobis_detector<T, D>& a, Io& io) noexcept {
  auto& o = a.options_;
  const double old_threshold = o.threshold;
  io(o.threshold);
  io(o.warmup);
  io(o.learning);
  io(o.relearn_after);
  io(o.cooldown);
  io(o.ridge);
  io(o.resolution_floor);
  if constexpr (Io::loading) {
    if (!check_detector_options(o, io) ||
        !io.require(o.ridge >= 0.0 && is_binary_finite(o.ridge),
                    "mahalanobis_detector: ridge is not a finite number >= 0") ||
        !io.require(o.resolution_floor >= 0.0 && is_binary_finite(o.resolution_floor),
                    "mahalanobis_detector: resolution_floor is not a finite number >= 0")) {
      return;
    }
    // The threshold's tail probability and distance follow from the options (as the constructor
    // computes them); not stored, recomputed when the threshold differs from the target's.
    if (!same_bits(old_threshold, o.threshold)) {
      a.log_p_threshold_ = log_chi2_upper_tail(1, static_cast<T>(o.threshold * o.threshold));
      a.threshold_distance_ = mahalanobis_detector<T, D>::distance_at(a.log_p_threshold_);
    }
  }
  io(a.count_);
  io(a.rejected_);
  io(a.relearns_);
  io(a.learned_);
  io(a.episodes_);
  io(a.baseline_);
  // The per-component resolution floor: last finite sample, smallest non-zero step, changes seen.
  io(a.previous_);
  io(a.resolution_);
  io(a.changes_);
  if constexpr (Io::loading) {
    if (!io.ok() || !io.require(a.learned_ <= a.count_ && a.baseline_.count() == a.learned_ &&
                                    a.episodes_.anomalies <= a.count_,
                                "mahalanobis_detector: the learned count disagrees with the baseline")) {
      return;
    }
    bool tracking =
        a.previous_.allFinite() && a.resolution_.allFinite() && (a.resolution_.array() >= T(0)).all();
    for (const std::size_t c : a.changes_) {
      tracking = tracking && c <= a.count_;
    }
    if (!io.require(tracking, "mahalanobis_detector: the resolution tracking is inconsistent")) {
      return;
    }
  }
  recent(a.recent_, a.relearn_window(), io);
}

}  // namespace streamstats::detail
