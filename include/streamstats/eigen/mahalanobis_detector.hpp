// streamstats — Eigen layer: multivariate anomaly detector (Mahalanobis distance to the running
// mean and covariance).
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/detail/episodes.hpp>
#include <streamstats/detail/tail.hpp>
#include <streamstats/eigen/covariance.hpp>
#include <streamstats/eigen/traits.hpp>
#include <streamstats/zscore_detector.hpp>

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace streamstats {

struct mahalanobis_options {
  // In the z-score detector's units, so one threshold means one false-alarm rate in every
  // dimension: a sample is an anomaly when its chi-square tail probability with D degrees of freedom,
  // P(χ²_D > d²), is below the two-sided Gaussian tail P(|Z| > threshold) (for D = 1, exactly
  // |z| > threshold). 4.5 ↔ p = 6.8e-6.
  double threshold = 4.5;
  // Samples learned before any alarm; 0 means max(30, 10·D) (a covariance needs well over D samples).
  std::size_t warmup = 0;
  // What a flagged sample does to the baseline; `clipped` learns it pulled back along δ to the
  // threshold distance (the multivariate winsorisation).
  zscore_learning learning = zscore_learning::clipped;
  // After this many anomalies within one episode, the baseline is re-learnt from the last
  // `relearn_after` samples (a lasting shift), then warms up again. 0 disables; at most max_relearn.
  std::size_t relearn_after = 16;
  std::size_t cooldown = 10;
  // Ridge regularisation: the distance uses Σ + ridge · (trace Σ / D) · I, so a singular covariance
  // (a constant component, collinear components, fewer samples than D) still gives a finite,
  // scale-free distance: a deviation along a direction the data never varied in is huge, not a
  // division by zero. Σ = 0 (every component constant) gives d = 0 for the mean and +Inf otherwise.
  double ridge = 1e-9;

  static constexpr std::size_t max_relearn = 64;
};

template <class T>
struct mahalanobis_result {
  // sqrt(δᵀ Σ_reg⁻¹ δ) against the baseline before the sample was learned (NaN when rejected or
  // with fewer than 2 learned samples).
  T distance;
  // ln P(χ²_D > distance²), the tail probability the anomaly decision uses (0 when rejected).
  T log_p;
  bool anomaly;
  bool new_episode;
  std::uint64_t episode;
  zscore_status status;

  // anomaly_score() of P(χ²_D > distance²): in [0, 1], comparable with zscore_result::score().
  [[nodiscard]] T score() const noexcept { return anomaly_score(log_p); }
};

// Scores D-dimensional samples (Eigen::Matrix<T, D, 1>) against the running mean and sample
// covariance (covariance<T, D>) before learning them; the same warm-up, rejection of non-finite
// samples (any component NaN or ±Inf), learning policy, re-learn and episodes as zscore_detector.
// The distance is solved with a pivoting LDLᵀ factorisation (Eigen::LDLT, fixed size: no heap) of
// the regularised covariance; O(D³) per sample.
template <class T, int D>
class mahalanobis_detector {
  friend struct detail::state_access;
  static_assert(D != Eigen::Dynamic,
                "streamstats::mahalanobis_detector: Eigen::Dynamic sizes are refused (they allocate on the "
                "heap); give the dimension at compile time, e.g. mahalanobis_detector<double, 3>");

 public:
  using baseline_type = covariance<T, D>;
  using value_type = typename baseline_type::value_type;
  using matrix_type = typename baseline_type::matrix_type;
  using result_type = mahalanobis_result<T>;

  mahalanobis_detector() : mahalanobis_detector(mahalanobis_options{}) {}
  // Throws std::invalid_argument naming the option when `options` is invalid (threshold not a
  // finite number > 0, ridge not finite or < 0, relearn_after > max_relearn).
  explicit mahalanobis_detector(mahalanobis_options options)
      : options_(checked(options)),
        log_p_threshold_(
            detail::log_chi2_upper_tail(1, static_cast<T>(options.threshold * options.threshold))),
        threshold_distance_(distance_at(log_p_threshold_)) {}

  result_type push(const value_type& x) noexcept {
    if (!eigen::detail::all_finite(x)) {
      ++rejected_;
      return {detail::quiet_nan<T>(), T(0), false, false, episodes_.current(), zscore_status::rejected};
    }
    ++count_;
    recent_.remember(x, relearn_window());
    const T dist = distance_of(x);
    const T log_p = dist == dist ? detail::log_chi2_upper_tail(D, dist * dist) : T(0);
    if (learned_ < warmup()) {
      learn(x);
      return {dist, log_p, false, false, episodes_.current(), zscore_status::warming_up};
    }
    const bool anomaly = log_p < log_p_threshold_;
    bool new_episode = false;
    if (anomaly) {
      new_episode = episodes_.flag(0);  // no sides in a distance
      if (relearn_window() > 0 && episodes_.run >= relearn_window()) {
        relearn();
      } else {
        learn_flagged(x, dist);
      }
    } else {
      learn(x);
      episodes_.calm(options_.cooldown);
    }
    return {dist, log_p, anomaly, new_episode, episodes_.current(), zscore_status::scored};
  }
  result_type operator()(const value_type& x) noexcept { return push(x); }

  // The Mahalanobis distance x would get now, without learning it (NaN below 2 learned samples).
  [[nodiscard]] T distance_of(const value_type& x) const noexcept {
    if (learned_ < 2) {
      return detail::quiet_nan<T>();
    }
    const value_type delta = x - baseline_.mean();
    if (delta.isZero(T(0))) {
      return T(0);
    }
    matrix_type sigma = baseline_.sample_covariance();
    const T trace = sigma.trace();
    if (!(trace > T(0))) {
      return detail::infinity<T>();  // every component constant, and x differs from it
    }
    sigma.diagonal().array() += static_cast<T>(options_.ridge) * trace / static_cast<T>(D);
    const Eigen::LDLT<matrix_type> ldlt(sigma);
    const value_type solved = ldlt.solve(delta);
    const T d2 = delta.dot(solved);
    if (!(d2 >= T(0))) {  // a failed factorisation (NaN) or rounding below zero
      return d2 == d2 ? T(0) : detail::infinity<T>();
    }
    return std::sqrt(d2);
  }

  [[nodiscard]] std::size_t count() const noexcept { return count_; }
  [[nodiscard]] std::size_t rejected() const noexcept { return rejected_; }
  [[nodiscard]] std::size_t anomalies() const noexcept { return episodes_.anomalies; }
  [[nodiscard]] std::uint64_t episodes() const noexcept { return episodes_.episode; }
  [[nodiscard]] std::size_t relearns() const noexcept { return relearns_; }
  [[nodiscard]] bool in_episode() const noexcept { return episodes_.open; }
  [[nodiscard]] const baseline_type& baseline() const noexcept { return baseline_; }
  [[nodiscard]] const mahalanobis_options& options() const noexcept { return options_; }
  // The distance at which a sample becomes an anomaly (the threshold in Mahalanobis units).
  [[nodiscard]] T threshold_distance() const noexcept { return threshold_distance_; }

  void reset() noexcept {
    baseline_.reset();
    count_ = rejected_ = relearns_ = learned_ = 0;
    episodes_ = ::streamstats::detail::episode_tracker{};
    recent_.clear();
  }

 private:
  [[nodiscard]] std::size_t warmup() const noexcept {
    if (options_.warmup != 0) {
      return options_.warmup < 2 ? 2 : options_.warmup;
    }
    const std::size_t by_dim = 10 * static_cast<std::size_t>(D);
    return by_dim > 30 ? by_dim : 30;
  }
  [[nodiscard]] std::size_t relearn_window() const noexcept {
    return options_.relearn_after < mahalanobis_options::max_relearn ? options_.relearn_after
                                                                     : mahalanobis_options::max_relearn;
  }

  void learn(const value_type& x) noexcept {
    baseline_.push(x);
    ++learned_;
  }

  void learn_flagged(const value_type& x, T dist) noexcept {
    switch (options_.learning) {
      case zscore_learning::skip:
        break;
      case zscore_learning::all:
        learn(x);
        break;
      case zscore_learning::clipped:
      default: {
        // Pulled back along δ to the distance at which it would just have passed: the bounded
        // influence of a winsorised sample, in every direction.
        const T limit = threshold_distance_;
        if (!(dist > limit) || dist == detail::infinity<T>()) {
          // An infinite distance (zero-variance baseline) has no finite threshold point: the mean
          // itself is the closest sample that passes.
          const value_type m = baseline_.mean();
          learn(dist == detail::infinity<T>() ? m : x);
          break;
        }
        const value_type m = baseline_.mean();
        const value_type clipped = m + (x - m) * (limit / dist);
        learn(clipped);
        break;
      }
    }
  }

  static mahalanobis_options checked(const mahalanobis_options& o) {
    const auto fail = [](const char* what, double got) {
      throw std::invalid_argument(std::string("streamstats::mahalanobis_detector: ") + what + ", got " +
                                  std::to_string(got));
    };
    if (!(o.threshold > 0.0) || !::streamstats::detail::is_finite(o.threshold)) {
      fail("threshold must be a finite number > 0", o.threshold);
    }
    if (!(o.ridge >= 0.0) || !::streamstats::detail::is_finite(o.ridge)) {
      fail("ridge must be a finite number >= 0", o.ridge);
    }
    if (o.relearn_after > mahalanobis_options::max_relearn) {
      fail("relearn_after must be <= mahalanobis_options::max_relearn (64)",
           static_cast<double>(o.relearn_after));
    }
    return o;
  }

  // The distance whose tail probability is the threshold's, P(χ²_D > d²) = P(|Z| > threshold), by
  // bisection on the closed-form tail (monotone in d²); computed once, at construction.
  [[nodiscard]] static T distance_at(T log_p_threshold) noexcept {
    T lo = T(0);
    T hi = T(1);
    while (detail::log_chi2_upper_tail(D, hi) > log_p_threshold && hi < T(1e30)) {
      hi *= T(2);
    }
    for (int i = 0; i < 200 && hi - lo > hi * T(1e-12); ++i) {
      const T mid = (lo + hi) / T(2);
      if (detail::log_chi2_upper_tail(D, mid) > log_p_threshold) {
        lo = mid;
      } else {
        hi = mid;
      }
    }
    return std::sqrt(hi);
  }

  void relearn() noexcept {
    baseline_.reset();
    learned_ = 0;
    recent_.replay(relearn_window(), [this](const value_type& x) { learn(x); });
    ++relearns_;
    episodes_.run = 0;
  }

  baseline_type baseline_{};
  mahalanobis_options options_{};
  T log_p_threshold_ = T(0);
  T threshold_distance_ = T(0);  // the distance at the threshold (clipped learning)
  std::size_t count_ = 0;
  std::size_t rejected_ = 0;
  std::size_t relearns_ = 0;
  std::size_t learned_ = 0;
  ::streamstats::detail::episode_tracker episodes_{};
  // Zero-filled: a fixed-size Eigen vector member is otherwise left uninitialised.
  ::streamstats::detail::recent_samples<value_type, mahalanobis_options::max_relearn> recent_{
      eigen::detail::zero<value_type>()};
};

}  // namespace streamstats
