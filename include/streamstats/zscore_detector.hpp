// streamstats — z-score anomaly detector over any mean/stddev baseline.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/detail/common.hpp>
#include <streamstats/detail/episodes.hpp>
#include <streamstats/detail/tail.hpp>
#include <streamstats/rolling_variance.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

namespace streamstats {

// Which deviations count as anomalies.
enum class zscore_side : unsigned char {
  both,   // |z| > threshold
  upper,  // z > threshold (spikes up only; score from the upper tail)
  lower,  // z < −threshold
};

// What a flagged sample does to the baseline.
enum class zscore_learning : unsigned char {
  skip,     // not learned: a spike never drags the baseline (level shifts rely on relearn_after)
  clipped,  // learned winsorised to mean ± threshold·σ: bounded pull, and a lasting change is
            // eventually absorbed even when it is too small for relearn_after's run
  all,      // learned as is
};

enum class zscore_status : unsigned char {
  scored,      // compared with a warmed-up baseline; `anomaly` is meaningful
  warming_up,  // the baseline has seen fewer than `warmup` samples: learned, never flagged
  rejected,    // NaN or ±Inf: ignored, counted in rejected(), the baseline is untouched
};

struct zscore_options {
  // Anomaly when |z| > threshold (or z > threshold / z < −threshold one-sided). 4.5 (two-sided
  // p = 6.8e-6) was tuned on the labelled test bed (tests/test_detector_bed.cpp): at 4.0 the
  // false alert episodes of the windowed baselines rise four- to tenfold for a recall gain of ≈ 2%.
  double threshold = 4.5;
  zscore_side side = zscore_side::both;
  // Samples the baseline learns before any alarm (at least 2: a standard deviation needs two).
  // Counted by the detector, so a rolling baseline shorter than `warmup` still warms up.
  std::size_t warmup = 30;
  zscore_learning learning = zscore_learning::clipped;
  // Level-shift absorption: after this many anomalies on the same side within one episode, the
  // baseline is reset and re-learnt from the last `relearn_after` samples (all at the new level),
  // then warms up again. 0 disables it; at most max_relearn (the constructor refuses more).
  std::size_t relearn_after = 16;
  // An alert episode ends after this many consecutive normal samples, so one long excursion that
  // crosses the threshold on and off is one episode (one new_episode), not dozens.
  std::size_t cooldown = 10;
  // Floor on the standard deviation used for z. With the default 0, a baseline of zero variance
  // (a constant series) gives z = ±Inf (score 1, an anomaly) for any different value and z = 0
  // for the same value: a flat line that moves is always flagged, and nothing is divided by zero.
  // Set it to the measurement resolution to ignore quantisation noise on near-constant series.
  double min_stddev = 0.0;

  static constexpr std::size_t max_relearn = 64;
};

// anomaly_score() of the tail probability of z on `side` (two-sided: P(|Z| > |z|) = P(χ²₁ > z²);
// upper: P(Z > z); lower: P(Z < z)); 0 when z is NaN.
template <class T>
[[nodiscard]] inline T zscore_anomaly_score(T z, zscore_side side) noexcept {
  if (z != z) {
    return T(0);
  }
  switch (side) {
    case zscore_side::upper:
      return anomaly_score(detail::log_normal_upper_tail(z));
    case zscore_side::lower:
      return anomaly_score(detail::log_normal_upper_tail(-z));
    case zscore_side::both:
    default:
      return anomaly_score(detail::log_chi2_upper_tail(1, z * z));
  }
}

template <class T>
struct zscore_result {
  // (x − mean) / max(stddev, min_stddev) of the baseline before x was learned; NaN when rejected
  // or when the baseline has fewer than 2 learned samples; ±Inf for a change after a zero-variance
  // baseline.
  T z;
  bool anomaly;
  // True on the first anomaly of an episode (the one to alert on).
  bool new_episode;
  // The episode this sample belongs to (1, 2, …), 0 when no episode is open.
  std::uint64_t episode;
  zscore_status status;
  // The detector's side option, which decides the tail score() uses.
  zscore_side side;

  // anomaly_score() of the tail probability of z (two-sided, or the side's one-sided tail):
  // in [0, 1], strictly increasing in |z|, comparable across series; 0 when z is NaN.
  // Computed on request, not in push(): the exact far-tail probability (erfc, log) costs several
  // times a baseline update, and most callers need it only for the samples they report.
  [[nodiscard]] T score() const noexcept { return zscore_anomaly_score(z, side); }
};

// Scores each sample against a baseline — variance<T> (cumulative), rolling_variance<T, N>,
// ew_variance<T>, or any type with mean(), stddev(), push(x), reset() — BEFORE learning it, so a
// sample is never compared with a statistic it has already moved.
//
//   zscore_detector<ew_variance<double>> d(ew_variance<double>::from_span(100));
//   if (auto r = d.push(x); r.new_episode) alert(r.z, r.score());
//
// Not allocating, copyable, O(1) per sample (a re-learn replays at most max_relearn samples).
template <class Baseline>
class zscore_detector {
  friend struct detail::state_access;
 public:
  using baseline_type = Baseline;
  using value_type = typename Baseline::value_type;
  using result_type = zscore_result<value_type>;
  STREAMSTATS_REQUIRE_SCALAR(value_type);

  zscore_detector() = default;
  // Throws std::invalid_argument naming the option when `options` is invalid (threshold not a
  // finite number > 0, min_stddev not finite or < 0, relearn_after > max_relearn).
  explicit zscore_detector(Baseline baseline, zscore_options options = {})
      : options_(checked(options)), baseline_(std::move(baseline)) {}

  result_type push(const value_type& x) noexcept {
    using T = value_type;
    if (!detail::is_finite(x)) {
      ++rejected_;
      return {detail::quiet_nan<T>(),  false,        false, episodes_.current(),
              zscore_status::rejected, options_.side};
    }
    ++count_;
    recent_.remember(x, relearn_window());

    const T z = z_of(x);
    if (learned_ < warmup()) {
      learn(x);
      return {z, false, false, episodes_.current(), zscore_status::warming_up, options_.side};
    }

    const T thr = static_cast<T>(options_.threshold);
    const bool above = z > thr;
    const bool below = z < -thr;
    const bool anomaly =
        (options_.side != zscore_side::lower && above) || (options_.side != zscore_side::upper && below);
    bool new_episode = false;
    if (anomaly) {
      new_episode = episodes_.flag(above ? 1 : -1);
      if (relearn_window() > 0 && episodes_.run >= relearn_window()) {
        relearn();
      } else {
        learn_flagged(x);
      }
    } else {
      learn(x);
      episodes_.calm(options_.cooldown);
    }
    return {z, anomaly, new_episode, episodes_.current(), zscore_status::scored, options_.side};
  }
  result_type operator()(const value_type& x) noexcept { return push(x); }

  // Finite samples scored (warm-up included); rejected ones are counted apart.
  [[nodiscard]] std::size_t count() const noexcept { return count_; }
  // Non-finite samples refused since construction or reset().
  [[nodiscard]] std::size_t rejected() const noexcept { return rejected_; }
  // Samples flagged, and alert episodes opened.
  [[nodiscard]] std::size_t anomalies() const noexcept { return episodes_.anomalies; }
  [[nodiscard]] std::uint64_t episodes() const noexcept { return episodes_.episode; }
  // Times a lasting shift made the baseline re-learn.
  [[nodiscard]] std::size_t relearns() const noexcept { return relearns_; }
  [[nodiscard]] bool in_episode() const noexcept { return episodes_.open; }
  [[nodiscard]] const Baseline& baseline() const noexcept { return baseline_; }
  [[nodiscard]] const zscore_options& options() const noexcept { return options_; }

  // The z-score x would get now, without learning it (NaN below 2 learned samples).
  [[nodiscard]] value_type z_of(const value_type& x) const noexcept {
    using T = value_type;
    if (learned_ < 2) {
      return detail::quiet_nan<T>();
    }
    const T diff = x - baseline_.mean();
    T sigma = baseline_.stddev();
    const T floor = static_cast<T>(options_.min_stddev);
    if (!(sigma >= floor)) {  // also replaces a NaN stddev
      sigma = floor;
    }
    if (sigma > T(0)) {
      return diff / sigma;
    }
    if (diff == T(0)) {
      return T(0);
    }
    return diff > T(0) ? detail::infinity<T>() : -detail::infinity<T>();
  }

  // Back to empty: baseline reset, counters cleared, options kept.
  void reset() noexcept {
    baseline_.reset();
    count_ = rejected_ = relearns_ = learned_ = 0;
    episodes_ = detail::episode_tracker{};
    recent_.clear();
  }

 private:
  [[nodiscard]] std::size_t warmup() const noexcept { return options_.warmup < 2 ? 2 : options_.warmup; }
  [[nodiscard]] std::size_t relearn_window() const noexcept {
    return options_.relearn_after < zscore_options::max_relearn ? options_.relearn_after
                                                                : zscore_options::max_relearn;
  }

  void learn(const value_type& x) noexcept {
    baseline_.push(x);
    ++learned_;
  }

  void learn_flagged(const value_type& x) noexcept {
    using T = value_type;
    switch (options_.learning) {
      case zscore_learning::skip:
        break;
      case zscore_learning::all:
        learn(x);
        break;
      case zscore_learning::clipped:
      default: {
        // Winsorise at the threshold: the pull of one outlier is bounded by what a legitimate
        // sample at the threshold would do.
        const T mu = baseline_.mean();
        T sigma = baseline_.stddev();
        if (!(sigma >= T(0))) {
          sigma = T(0);
        }
        const T reach = static_cast<T>(options_.threshold) * sigma;
        const T lo = mu - reach;
        const T hi = mu + reach;
        learn(x < lo ? lo : (x > hi ? hi : x));
        break;
      }
    }
  }

  static zscore_options checked(const zscore_options& o) {
    const auto fail = [](const char* what, double got) {
      throw std::invalid_argument(std::string("streamstats::zscore_detector: ") + what + ", got " +
                                  std::to_string(got));
    };
    if (!(o.threshold > 0.0) || !detail::is_finite(o.threshold)) {
      fail("threshold must be a finite number > 0", o.threshold);
    }
    if (!(o.min_stddev >= 0.0) || !detail::is_finite(o.min_stddev)) {
      fail("min_stddev must be a finite number >= 0", o.min_stddev);
    }
    if (o.relearn_after > zscore_options::max_relearn) {
      fail("relearn_after must be <= zscore_options::max_relearn (64)", static_cast<double>(o.relearn_after));
    }
    return o;
  }

  // The run of same-side anomalies spans the last `cap` samples, so all of them are at the new level.
  void relearn() noexcept {
    baseline_.reset();
    learned_ = 0;
    recent_.replay(relearn_window(), [this](const value_type& x) { learn(x); });
    ++relearns_;
    episodes_.run = 0;
  }

  zscore_options options_{};
  std::size_t count_ = 0;
  std::size_t rejected_ = 0;
  std::size_t relearns_ = 0;
  std::size_t learned_ = 0;  // samples in the baseline since construction, reset() or a re-learn
  detail::episode_tracker episodes_{};
  // The arrays last (the baseline's ring, then ours): GCC assumes a store into a std::array member
  // may reach every member declared after it, which would pin the counters above in memory.
  Baseline baseline_{};
  detail::recent_samples<value_type, zscore_options::max_relearn> recent_{};
};

// The recommended detector: a z-score against the last 64 samples (rolling_variance<T, 64>) with the
// default zscore_options (|z| > 4.5, 30 samples of warm-up, flagged samples learned winsorised at the
// threshold, re-learn after 16 same-side anomalies in an episode, episodes closed after 10 quiet
// samples). Chosen on the labelled test bed (tests/test_detector_bed.cpp, 7 generators × 4 seeds):
// the best precision/recall balance of the cumulative, rolling (50–200) and exponential (span
// 20–200) baselines — a cumulative baseline cannot follow drifts, random walks or daily cycles, and
// an exponential one of the same reach catches fewer level shifts and variance bursts.
// 64 samples of memory for the window plus the detector's re-learn buffer; no allocation.
template <class T>
class anomaly_detector : public zscore_detector<rolling_variance<T, 64>> {
  using base = zscore_detector<rolling_variance<T, 64>>;

 public:
  static constexpr std::size_t window = 64;

  anomaly_detector() : base(rolling_variance<T, 64>{}, zscore_options{}) {}
  // Throws std::invalid_argument on invalid options (see zscore_detector).
  explicit anomaly_detector(zscore_options options) : base(rolling_variance<T, 64>{}, options) {}
};

}  // namespace streamstats
