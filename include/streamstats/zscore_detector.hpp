// streamstats — z-score anomaly detector over any mean/stddev baseline.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/detail/common.hpp>
#include <streamstats/detail/episodes.hpp>
#include <streamstats/detail/tail.hpp>
#include <streamstats/rolling_variance.hpp>
#include <streamstats/score_rank.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
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
  // Floor on the standard deviation used for z, in the data's units (0: none). See also
  // resolution_floor, which learns a floor from the data itself.
  double min_stddev = 0.0;
  // The σ used for z is at least resolution_floor × the data's resolution: the smallest non-zero
  // |x − previous x| seen so far (the quantum of an integer counter, the step of a square wave).
  // Without it a baseline of zero variance — a flat stretch, a counter sitting at 0, a quantised
  // sensor whose window happens to hold one value — turns the next step of one quantum into
  // z = ±Inf, and real series are full of those. 0.5 means "a change of one quantum is at most 2σ"
  // (the rounding noise of a quantum q alone has σ = q/√12 ≈ 0.29 q, so the floor sits above it,
  // and on alternating ±1 data, whose smallest change is 2σ, it stays below the real σ). Before
  // any change has been seen the resolution is unknown: the first move of a constant series still
  // gives z = ±Inf (flagged, nothing divided by zero). The floor is weighted by min(1, 10 × the
  // fraction of samples that changed): the jumps of an otherwise flat series stay events. 0 disables.
  double resolution_floor = 0.5;

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
    observe_resolution(x);
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
    const T sigma = scale();
    if (sigma > T(0)) {
      return diff / sigma;
    }
    if (diff == T(0)) {
      return T(0);
    }
    return diff > T(0) ? detail::infinity<T>() : -detail::infinity<T>();
  }

  // The σ that divides z: the baseline's stddev, floored at min_stddev and at resolution_floor ×
  // resolution() × min(1, 10 × change rate) (0 while the baseline has no spread and nothing changed).
  [[nodiscard]] value_type scale() const noexcept {
    using T = value_type;
    T sigma = baseline_.stddev();
    // A quantum that changes rarely is an event, not noise: the floor is scaled by min(1, 10 ×
    // the fraction of samples that changed), full for noise that moves at least every 10 samples.
    const T rate = count_ > 1 ? static_cast<T>(changes_) / static_cast<T>(count_ - 1) : T(0);
    const T weight = rate * T(10) < T(1) ? rate * T(10) : T(1);
    T floor = static_cast<T>(options_.resolution_floor) * resolution_ * weight;
    const T fixed = static_cast<T>(options_.min_stddev);
    if (!(floor >= fixed)) {
      floor = fixed;
    }
    if (!(sigma >= floor)) {  // also replaces a NaN stddev
      sigma = floor;
    }
    return sigma;
  }
  // The data's resolution: the smallest non-zero |x − previous x| among the finite samples seen
  // (0 before the first change). Survives re-learns; cleared by reset().
  [[nodiscard]] value_type resolution() const noexcept { return resolution_; }

  // Back to empty: baseline reset, counters cleared, options kept.
  void reset() noexcept {
    baseline_.reset();
    previous_ = resolution_ = value_type(0);
    count_ = rejected_ = relearns_ = learned_ = changes_ = 0;
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

  void observe_resolution(const value_type& x) noexcept {
    using T = value_type;
    if (count_ > 1) {  // count_ already includes x
      const T step = x > previous_ ? x - previous_ : previous_ - x;
      if (step > T(0)) {
        ++changes_;
        if (resolution_ == T(0) || step < resolution_) {
          resolution_ = step;
        }
      }
    }
    previous_ = x;
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
        T sigma = scale();
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
    if (!(o.resolution_floor >= 0.0) || !detail::is_finite(o.resolution_floor)) {
      fail("resolution_floor must be a finite number >= 0", o.resolution_floor);
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
  value_type previous_ = value_type(0);    // the last finite sample (resolution tracking)
  value_type resolution_ = value_type(0);  // smallest non-zero step seen, 0 = none yet
  std::size_t count_ = 0;
  std::size_t changes_ = 0;  // finite samples that differed from the previous one
  std::size_t rejected_ = 0;
  std::size_t relearns_ = 0;
  std::size_t learned_ = 0;  // samples in the baseline since construction, reset() or a re-learn
  detail::episode_tracker episodes_{};
  // The arrays last (the baseline's ring, then ours): GCC assumes a store into a std::array member
  // may reach every member declared after it, which would pin the counters above in memory.
  Baseline baseline_{};
  detail::recent_samples<value_type, zscore_options::max_relearn> recent_{};
};

// How anomaly_detector turns a z-score into a calibrated score and an alert decision.
struct calibration_options {
  // Memory, in samples, of the rank of |z| among the series' recent |z| (score_rank's span): about
  // three days of 5-minute data, long against an anomaly and short against a change of regime.
  double span = 1000.0;
  // Samples before the rank is used. Until then score() is the Gaussian tail score of z and the
  // anomaly rule is zscore_detector's alone.
  std::size_t learning = 200;
  // After learning, a sample with |z| > zscore_options::threshold is an anomaly only when p, the
  // recent (weighted) fraction of |z| at least as large, is below alert_p: "beyond the threshold AND
  // rarer than 1 in 100 on this series". What recurs more often than that — a daily jump, a square
  // wave's edges, the routine 5σ of heavy-tailed counts — stops alarming, while spikes a few hundred
  // samples apart still alarm. While the rank's memory fills, p is compared with alert_p × the
  // fraction filled (p cannot fall below 1 / the samples seen). 1 turns the veto off.
  double alert_p = 0.01;
  // Samples after a rare one during which report_score() reports only what is rarer still: a sample
  // whose p_graded is not below the smallest p_graded of the previous `quiet` samples is a `repeat`
  // (its report_score() is 0). The first sample of an excursion carries the report; the next ones of
  // the same excursion (a level shift before the baseline re-learns, the falling edge of a spike) do
  // not repeat it. score() and p are not affected (they stay calibrated), nor is `anomaly` (episodes
  // and cooldown do that for alerts). 0 disables it; at most max_quiet. 30 (2.5 hours of 5-minute
  // data): 16 and 32 give the same NAB figures within 0.3.
  std::size_t quiet = 30;

  static constexpr std::size_t max_quiet = 32;
  // Only rare samples (p_graded below quiet_p, a score above 0.5) are compared and remembered: below
  // that report_score() is score(), and the quiet window costs nothing on the common samples.
  static constexpr double quiet_p = 0.1;
};

// A daily (weekly, …) cycle. When the stream's samples come at a fixed pace, `period` is the number
// of samples in one cycle (288 for a sample every 5 minutes and a daily cycle); with `period` = 0 and
// timestamps (anomaly_detector::push(x, t)) the detector finds it itself: `cycle` seconds over the
// stream's pace, the median spacing of its first pace_spacings timestamps. The detector then
// keeps a profile of the cycle — the exponentially weighted mean of each of up to 96 phase slots —
// and scores, instead of x, the residual x − profile(phase) once the profile explains the series:
// after two periods, while the mean square of the residual stays below use_ratio × the variance of
// x (both over about two periods). A daily rise is then expected, and a missing or doubled one is
// not. A series without a cycle keeps being scored on x (the residual never explains enough).
struct seasonal_options {
  // Samples per cycle; 0: none given (the stage then runs only when `cycle` and timestamps give it).
  // A period > 0 is used as is: phases are counted in samples and timestamps are not consulted.
  std::size_t period = 0;
  // The cycle in seconds, used when period = 0 and samples come with timestamps (push(x, t)): once
  // the first pace_spacings spacings are known, period = round(cycle / pace), pace being their median
  // (so a gap or a burst among them does not matter). While the pace is irregular (fewer than half
  // of those spacings within ±pace_tolerance of the median) the stage stays off and the next
  // pace_spacings spacings are tried; it stays off for good when the period would be below
  // min_period or above max_period samples. Phases then come from the timestamps —
  // (t − first t) mod cycle, in steps of cycle / period — so a gap in the data keeps the profile
  // aligned. One day (86400) by default: the cycle of operational data (traffic, load, business
  // hours), not a value fitted on a benchmark. 0: never learned (push(x, t) then behaves as push(x)).
  double cycle = 86400.0;
  // Weight of the newest visit in a slot's mean: 0.2 remembers about the last 9 cycles.
  double slot_alpha = 0.2;
  // The residual is scored while (its mean square) < use_ratio × (variance of x): 0.5 means the
  // cycle explains at least half of the variance.
  double use_ratio = 0.5;

  static constexpr std::size_t slots = 96;  // phase slots (fewer if period < 96)
  static constexpr std::size_t max_period = std::size_t(1) << 32;
  // Learning the period from timestamps: spacings (time between timed samples over the samples
  // between them) whose median is the pace; the share of them that must lie within ±pace_tolerance
  // (relative) of it; the fewest samples a learned cycle may have (a profile needs a few phases).
  static constexpr std::size_t pace_spacings = 32;
  static constexpr double pace_tolerance = 0.1;
  static constexpr std::size_t min_period = 4;
};

namespace detail {

// The smallest of the values pushed within the last `window` ≤ N positions (a monotone wedge: values
// strictly increasing from front to back, positions too). O(1) amortised, no allocation.
template <class T, std::size_t N>
struct recent_minimum {
  std::array<T, N> values{};
  std::array<std::uint64_t, N> at{};
  std::size_t head = 0;
  std::size_t len = 0;

  [[nodiscard]] static std::size_t wrap(std::size_t k) noexcept { return k >= N ? k - N : k; }
  // Drops what was pushed at positions ≤ now − window.
  void expire(std::uint64_t now, std::size_t window) noexcept {
    while (len > 0 && at[head] + window <= now) {
      head = wrap(head + 1);
      --len;
    }
  }
  [[nodiscard]] T front() const noexcept { return values[head]; }
  // After expire(now, window): at most window − 1 ≤ N − 1 entries remain, so v always fits.
  void push(T v, std::uint64_t now) noexcept {
    while (len > 0 && values[wrap(head + len - 1)] >= v) {
      --len;
    }
    const std::size_t slot = wrap(head + len);
    values[slot] = v;
    at[slot] = now;
    ++len;
  }
};

// The pace of a timestamped stream and the cycle's period in samples it implies (see
// seasonal_options::cycle). Times are seconds since the clock's epoch, as doubles. O(1) per sample
// (the median is taken once, over pace_spacings values), no allocation.
struct stream_pace {
  // learning: collecting spacings (again, after an irregular set); learned: pace and period known;
  // off: the pace is regular but the cycle holds fewer than min_period or more than max_period samples.
  enum status_t : unsigned char { learning = 0, learned = 1, off = 2 };
  static constexpr std::size_t n = seasonal_options::pace_spacings;

  double last = std::numeric_limits<double>::quiet_NaN();  // the last timestamp used (NaN: none yet)
  double origin = 0.0;     // phase 0: the first timestamp, then the start of the current cycle
  std::uint64_t at = 0;    // the detector's sample count at `last`
  std::size_t filled = 0;  // spacings collected (while learning)
  double pace = 0.0;       // seconds per sample, once learned
  status_t status = learning;
  std::array<double, n> spacing{};

  // The period in samples for `cycle` seconds, 0 when the pace gives none (irregular, out of range).
  [[nodiscard]] static std::size_t period_for(double cycle, double pace) noexcept {
    if (!(pace > 0.0) || !(cycle > 0.0)) {
      return 0;
    }
    const double p = std::round(cycle / pace);
    return p >= static_cast<double>(seasonal_options::min_period) &&
                   p <= static_cast<double>(seasonal_options::max_period)
               ? static_cast<std::size_t>(p)
               : 0;
  }
  // Takes the timestamp t (finite) of the sample counted `count`-th. Returns true when t is used
  // (later than the previous one); on the spacing that completes the set, decides the pace.
  bool observe(double t, std::uint64_t count, double cycle) noexcept {
    if (last == last && !(t > last)) {
      return false;  // out of order or repeated: the sample counts as untimed
    }
    if (last != last) {
      origin = t;
    } else if (status == learning && count > at) {
      spacing[filled++] = (t - last) / static_cast<double>(count - at);
      if (filled == n) {
        decide(cycle);
      }
    }
    last = t;
    at = count;
    return true;
  }
  void decide(double cycle) noexcept {
    std::array<double, n> s = spacing;
    std::nth_element(s.begin(), s.begin() + n / 2, s.end());
    const double median = s[n / 2];
    std::size_t close = 0;
    for (const double d : spacing) {
      close += (d >= median * (1.0 - seasonal_options::pace_tolerance) &&
                d <= median * (1.0 + seasonal_options::pace_tolerance))
                   ? 1
                   : 0;
    }
    const bool regular = median > 0.0 && std::isfinite(median) && 2 * close >= n;
    if (!regular) {
      // Irregular so far (a backlog sent in a burst, a jittery start): try the next n spacings.
      filled = 0;
      return;
    }
    pace = median;
    status = period_for(cycle, pace) > 0 ? learned : off;
  }
  // The phase of t within a cycle of `period` samples (pace learned): the nearest sample position.
  // Moves `origin` to the start of t's cycle (a whole number of cycles on, no fmod per sample).
  [[nodiscard]] std::size_t phase_of(double t, double cycle, std::size_t period) noexcept {
    double d = t - origin;  // ≥ 0: t ≥ last ≥ origin
    if (d >= cycle) {
      origin += cycle * std::floor(d / cycle);
      d = t - origin;
    }
    const double ph = std::floor(d / cycle * static_cast<double>(period) + 0.5);
    const auto k = static_cast<std::size_t>(ph < 0.0 ? 0.0 : ph);
    return k >= period ? k - period : k;
  }
  void reset() noexcept { *this = stream_pace{}; }
};

// The cycle profile of anomaly_detector (see seasonal_options): O(1) per sample, no allocation.
template <class T, std::size_t Slots = seasonal_options::slots>
struct seasonal_profile {
  std::size_t period = 0;
  std::size_t phase = 0;      // position of the next sample within the period
  std::size_t seen = 0;       // samples learned, saturating at span_periods · period
  std::size_t residuals = 0;  // residuals averaged into mean_square (saturating like `seen`)
  // The statistics that decide in_use() span 7 periods (a week of daily cycles): one odd cycle —
  // a missing working day — does not switch the seasonal stage off.
  static constexpr unsigned span_periods = 7;
  T alpha = T(0.2);
  T ratio = T(0.5);
  T mean = T(0);         // exponentially weighted mean of x (span span_periods · period)
  T variance = T(0);     // … and variance of x
  T mean_square = T(0);  // … mean square of the residual
  bool used = false;     // the residual is scored (see in_use())
  std::array<T, Slots> slot{};

  [[nodiscard]] std::size_t slots() const noexcept { return period < Slots ? period : Slots; }
  [[nodiscard]] std::size_t slot_of(std::size_t ph) const noexcept {
    // ph < period ≤ 2^32 and slots() ≤ 96: no overflow in 64 bits
    return static_cast<std::size_t>(static_cast<std::uint64_t>(ph) * slots() / period);
  }
  // The residual of x against the profile (valid once a whole period has been seen).
  [[nodiscard]] bool has_residual() const noexcept { return period > 0 && seen >= period; }
  [[nodiscard]] T residual(T x) const noexcept { return x - slot[slot_of(phase)]; }
  // Whether the residual is what anomaly_detector scores now.
  [[nodiscard]] bool in_use() const noexcept { return used; }

  // Learns x, its residual first clipped to [lo, hi] (±∞: as is; lo > hi, e.g. NaN: not at all).
  // anomaly_detector clips a residual its z-score flagged to that z-score's band, as zscore_learning::
  // clipped does, so that a spike carves only a bounded trace into the next cycles' profile, and
  // skips it when the residual had no spread at all (a noiseless cycle, where any trace would alarm).
  void learn(T x, T lo, T hi) noexcept {
    const T a = T(2) / (T(span_periods) * static_cast<T>(period) + T(1));
    const std::size_t s = slot_of(phase);
    if (has_residual()) {
      if (lo <= hi) {
        T r = x - slot[s];
        r = r < lo ? lo : (r > hi ? hi : r);
        ++residuals;
        const T ar = static_cast<T>(residuals) * a < T(1) ? T(1) / static_cast<T>(residuals) : a;
        mean_square += ar * (r * r - mean_square);
        slot[s] += alpha * r;
      }
    } else if (phase == 0 || slot_of(phase - 1) != s) {
      slot[s] = x;  // first visit of the slot
    } else {
      slot[s] += alpha * (x - slot[s]);
    }
    ++seen;
    const T ax = static_cast<T>(seen) * a < T(1) ? T(1) / static_cast<T>(seen) : a;
    const T d = x - mean;
    mean += ax * d;
    variance = (T(1) - ax) * (variance + ax * d * d);
    if (seen > span_periods * period) {
      seen = span_periods * period;
    }
    if (residuals > span_periods * period) {
      residuals = span_periods * period;
    }
    // Hysteresis: in use from mean_square < ratio · variance on, out of use only above twice that.
    used = seen >= 2 * period && mean_square < (used ? T(2) : T(1)) * ratio * variance;
    if (++phase == period) {
      phase = 0;
    }
  }
  void reset() noexcept {
    phase = seen = residuals = 0;
    mean = variance = mean_square = T(0);
    used = false;
    slot.fill(T(0));
  }
};

// Under the null of anomaly_result::score() (p uniform, independent from sample to sample), the
// probability of a sample whose p is below u with no p at least as small among the previous n:
// ∫₀^u (1 − v)^n dv = (1 − (1 − u)^(n+1)) / (n + 1), accurate for tiny u.
template <class T>
[[nodiscard]] inline T first_report_mass(T u, std::size_t n) noexcept {
  const T m = static_cast<T>(n + 1);
  return -std::expm1(m * std::log1p(-u)) / m;
}

}  // namespace detail

template <class T>
struct anomaly_result {
  // The z-score of zscore_detector (baseline before x, σ floored at the resolution).
  T z;
  bool anomaly;
  // True on the first anomaly of an episode (the one to alert on).
  bool new_episode;
  // The episode this sample belongs to (1, 2, …), 0 when no episode is open.
  std::uint64_t episode;
  zscore_status status;
  zscore_side side;
  // The calibrated tail probability: the rank of |z| among the recent ones once learning is over;
  // NaN before (score() is then the Gaussian tail of z) and when rejected. Kept linear: the
  // logarithm is taken on request only.
  T p;
  // p, except for a |z| beyond every recent one, where p stops at its floor (≈ 1/n_eff: "never
  // seen"): there it keeps falling, by e per histogram bin (28% of |z|) past the largest recent |z|.
  // What score() and report_score() rank by; NaN when p is.
  T p_graded;
  // True when a sample at least as rare (p_graded no larger, below quiet_p) came within the previous
  // calibration_options::quiet samples: this one continues an excursion already reported.
  bool repeat;

  // The calibration_options::quiet this sample was judged under (0: no repeats, score() ranks by
  // p_graded alone).
  std::uint32_t quiet = 0;

  // In [0, 1], the same meaning on every series: anomaly_score of ln P, P the probability under the
  // null (p uniform and independent from sample to sample) of a sample at least as anomalous as
  // this one, where the first sample of an excursion outranks its repeats (0.5 ↔ P = 0.1, 0.67 ↔
  // 0.01, 0.7 ↔ 0.0047). A rare sample (p_graded below quiet_p) that is not a repeat has
  // P = ∫₀^p (1 − v)^quiet dv = (1 − (1 − p)^(quiet+1)) / (quiet + 1) — the mass of first reports
  // at least as rare, ≈ p for small p; a repeat comes after all of those (≈ 0.031 for quiet 30) and
  // before every sample that is not rare: P = that mass + p − its own first-report mass; any other
  // sample has P = p. So on noise the fraction of samples with score() ≥ s is p(s) at every level,
  // as for an unthinned rank, yet an excursion's continuation (a level shift while the baseline
  // re-learns, a spike's falling edge) scores at most ≈ 0.6 instead of charging every sample to a
  // threshold above that: one threshold above 0.6 gives one report per excursion on every series.
  // Calibrated down to p's floor (≈ 2/(span + 1): "never seen recently"), and beyond every recent |z|
  // still growing with |z| instead of saturating there (a spike of 30σ outranks one of 8σ, on this
  // series and against the others); during learning the Gaussian tail score of z
  // (zscore_anomaly_score); 0 when rejected.
  [[nodiscard]] T score() const noexcept {
    if (p_graded != p_graded) {
      return status == zscore_status::rejected ? T(0) : zscore_anomaly_score(z, side);
    }
    return anomaly_score(log_tail());
  }
  // ln P of score(): what it ranks by (−Inf for p_graded = 0, 0 for p_graded ≥ 1); NaN before
  // learning is over and when rejected.
  [[nodiscard]] T log_tail() const noexcept {
    if (!(p_graded < T(1))) {
      return p_graded != p_graded ? p_graded : T(0);
    }
    const T rare = T(calibration_options::quiet_p);
    if (quiet == 0 || !(p_graded < rare)) {
      return std::log(p_graded);
    }
    const T first = detail::first_report_mass(p_graded, quiet);
    return std::log(repeat ? detail::first_report_mass(rare, quiet) + (p_graded - first) : first);
  }
  // score(), or 0 for a repeat: one report per excursion, at its first and at any rarer sample.
  // Thresholded above ≈ 0.6 it reports what score() reports; below, score() also passes repeats
  // while report_score() never does. Not calibrated: on noise it exceeds a level s below 0.6 less
  // often than p(s) says. During learning and when rejected: score().
  [[nodiscard]] T report_score() const noexcept { return repeat ? T(0) : score(); }
};

// The recommended detector. A z-score against the last Window = 64 samples (zscore_detector over
// rolling_variance<T, Window>, its σ floored at the data's resolution so that flat and quantised
// stretches do not make every step infinitely unlikely), calibrated by the rank of |z| among the
// series' own recent |z| (score_rank, span 1000 samples):
//   score()         anomaly_score of that rank p: "rarer than p on this series", so one threshold on
//                   it serves every series;
//   report_score()  score() for the first sample of an excursion (and any rarer one within
//                   calibration_options::quiet samples), 0 for the rest, graded beyond the recent
//                   maximum: what to threshold when each report is acted on (NAB scores it so);
//   anomaly         |z| > threshold AND p < alert_p (0.01): what recurs on this series — a daily
//                   jump, a square wave's edges, the routine 5σ of heavy-tailed counts — stops
//                   alarming; new_episode once per episode.
// With a cycle — fed with timestamps, push(x, t), the default one-day seasonal_options::cycle whose
// period in samples the detector learns from the stream's pace; or seasonal_options::period given in
// samples (e.g. 288 for a day of 5-minute data) — a cycle profile is kept and, once it explains the
// series, the z-score is taken on x − profile(phase) by a second z-score stage: a daily rise is
// expected, a missing one is an anomaly. push(x) alone has no clock: without timestamps the stage
// runs only with a given period.
// The first calibration_options::learning samples use the Gaussian tail score and |z| alone.
// baseline(), options() (threshold, min_stddev, side) describe the z-score part on x: the band
// baseline().mean() ± threshold · baseline().stddev() is where |z| stays below the threshold (while
// seasonal_in_use() the scored z is the residual's).
// Measured on NAB's development split and the synthetic bed (README, "Anomaly detection").
// Memory (double): 5152 bytes — Window samples and 64 of re-learn buffer for each of the two z-score
// stages, 64 histogram bins, 96 profile slots, the quiet window; no allocation; O(1) per sample.
template <class T, std::size_t Window = 64>
class anomaly_detector {
  friend struct detail::state_access;

 public:
  static constexpr std::size_t window = Window;
  using baseline_type = rolling_variance<T, window>;
  using zscore_type = zscore_detector<baseline_type>;
  using value_type = T;
  using result_type = anomaly_result<T>;

  anomaly_detector() : anomaly_detector(zscore_options{}, calibration_options{}) {}
  // Throws std::invalid_argument on invalid options (see zscore_detector; span not a finite number
  // ≥ 1, alert_p not in (0, 1], quiet > max_quiet, period > max_period, cycle not a finite number ≥
  // 0, slot_alpha not in (0, 1], use_ratio not a finite number ≥ 0).
  explicit anomaly_detector(zscore_options options, calibration_options calibration = {},
                            seasonal_options seasonal = {})
      : zscore_(baseline_type{}, options),
        residual_z_(baseline_type{}, options),
        rank_(static_cast<T>(checked(calibration).span)),
        calibration_(calibration),
        seasonal_(checked(seasonal)),
        alert_p_(calibration.alert_p >= 1.0 ? detail::infinity<T>() : static_cast<T>(calibration.alert_p)),
        full_(static_cast<T>((calibration.span + 1.0) / 2.0)) {
    profile_.period = seasonal.period;
    profile_.alpha = static_cast<T>(seasonal.slot_alpha);
    profile_.ratio = static_cast<T>(seasonal.use_ratio);
  }

  // Scores x, then learns it. Without timestamps the seasonal stage runs only with a given
  // seasonal_options::period.
  result_type push(const T& x) noexcept { return push_at(x, std::numeric_limits<double>::quiet_NaN()); }
  // The same, with the sample's timestamp t (any std::chrono clock's time_point; keep to one clock
  // per detector): with seasonal_options::period = 0 the detector learns the stream's pace from the
  // first timestamps and, from then on, runs the seasonal stage with period = cycle / pace, phases
  // taken from t (see seasonal_options::cycle). A t not later than the previous one is not used (the
  // sample is scored as by push(x), its phase one after the previous one). Timestamps and push(x)
  // may be mixed: spacings are measured over the samples between two timestamps.
  template <class Clock, class Duration>
  result_type push(const T& x, std::chrono::time_point<Clock, Duration> t) noexcept {
    return push_at(x, std::chrono::duration<double>(t.time_since_epoch()).count());
  }
  result_type operator()(const T& x) noexcept { return push(x); }

  // The period of the seasonal stage in use: seasonal_options::period when given, else the one
  // learned from timestamps (0 while learning, or when none was found).
  [[nodiscard]] std::size_t period() const noexcept { return profile_.period; }
  // The stream's pace learned from timestamps, in seconds per sample: 0 while learning (also while
  // the spacings are irregular), when seasonal_options::period is given or cycle is 0.
  [[nodiscard]] double pace() const noexcept { return pace_.pace; }

 private:
  result_type push_at(const T& x, double t) noexcept {
    auto r = zscore_.push(x);
    const zscore_side side = r.side;
    if (r.status == zscore_status::rejected) {
      return {r.z,
              false,
              false,
              episodes_.current(),
              r.status,
              side,
              detail::quiet_nan<T>(),
              detail::quiet_nan<T>(),
              false};
    }
    if (seasonal_.period == 0 && seasonal_.cycle > 0.0 && detail::is_finite(t) &&
        pace_.observe(t, zscore_.count(), seasonal_.cycle)) {
      if (pace_.status == detail::stream_pace::learned) {
        if (profile_.period == 0) {
          profile_.period = detail::stream_pace::period_for(seasonal_.cycle, pace_.pace);
        }
        profile_.phase = pace_.phase_of(t, seasonal_.cycle, profile_.period);
      }
    }
    if (profile_.period > 0) {
      // Both stages learn all the time, so that switching between them finds a warm baseline.
      T lo = -detail::infinity<T>();
      T hi = detail::infinity<T>();
      if (profile_.has_residual()) {
        const bool use = profile_.in_use();
        const T mu = residual_z_.baseline().mean();  // the band before the residual is learned
        const T sigma = residual_z_.baseline().stddev();
        const T reach = static_cast<T>(residual_z_.options().threshold) * residual_z_.scale();
        const auto rr = residual_z_.push(profile_.residual(x));
        if (rr.anomaly) {
          lo = sigma > T(0) ? mu - reach : T(1);  // no spread: lo > hi, not learned
          hi = sigma > T(0) ? mu + reach : T(0);
        }
        if (use) {
          r = rr;
        }
      }
      profile_.learn(x, lo, hi);
    }
    // The raw score on the side that counts: |z|, or the positive part of ±z one-sided.
    T raw = side == zscore_side::both ? (r.z < T(0) ? -r.z : r.z) : (side == zscore_side::upper ? r.z : -r.z);
    if (!(raw > T(0))) {
      raw = T(0);  // also NaN z (fewer than 2 learned samples): ranked as 0, the bottom
    }
    const bool warm = rank_.count() >= calibration_.learning;
    const T n_eff = rank_.effective_count();
    const auto rank = r.z == r.z ? rank_.rank_and_learn(raw) : typename score_rank<T>::rank{T(1), T(1), T(1)};
    T p = detail::quiet_nan<T>();
    bool anomaly = r.anomaly;
    T graded = detail::quiet_nan<T>();
    bool repeat = false;
    if (warm) {
      p = raw > T(0) ? rank.p : T(1);
      graded = raw > T(0) ? rank.graded : T(1);
      if (calibration_.quiet > 0 && graded < T(calibration_options::quiet_p)) {
        // A repeat when a p_graded no larger came within the previous `quiet` samples.
        const std::uint64_t now = zscore_.count();
        recent_p_.expire(now, calibration_.quiet);
        repeat = recent_p_.len > 0 && recent_p_.front() <= graded;
        recent_p_.push(graded, now);
      }
      // The veto counts the whole bin (an exact repeat is a recurrence) and compares
      // p_bin · n_eff / n_full with alert_p, n_full = (span + 1)/2: the same test as p_bin < alert_p
      // once the memory is full, and one that can pass while it fills (p ≥ 1/n_eff).
      anomaly = anomaly && raw > T(0) && rank.p_bin * (n_eff < full_ ? n_eff / full_ : T(1)) < alert_p_;
    }
    bool new_episode = false;
    if (anomaly) {
      new_episode = episodes_.flag(0);
    } else {
      episodes_.calm(zscore_.options().cooldown);
    }
    return {r.z,         anomaly,
            new_episode, episodes_.current(),
            r.status,    side,
            p,           graded,
            repeat,      static_cast<std::uint32_t>(calibration_.quiet)};
  }

 public:
  [[nodiscard]] std::size_t count() const noexcept { return zscore_.count(); }
  [[nodiscard]] std::size_t rejected() const noexcept { return zscore_.rejected(); }
  // Samples flagged and alert episodes opened (the z rule with the rank's veto).
  [[nodiscard]] std::size_t anomalies() const noexcept { return episodes_.anomalies; }
  [[nodiscard]] std::uint64_t episodes() const noexcept { return episodes_.episode; }
  [[nodiscard]] bool in_episode() const noexcept { return episodes_.open; }
  // Re-learns of the z-score baseline after lasting shifts.
  [[nodiscard]] std::size_t relearns() const noexcept { return zscore_.relearns(); }
  [[nodiscard]] const baseline_type& baseline() const noexcept { return zscore_.baseline(); }
  [[nodiscard]] const zscore_options& options() const noexcept { return zscore_.options(); }
  [[nodiscard]] const calibration_options& calibration() const noexcept { return calibration_; }
  [[nodiscard]] const seasonal_options& seasonal() const noexcept { return seasonal_; }
  // Whether the seasonal residual is being scored now (never when seasonal_options::period is 0).
  [[nodiscard]] bool seasonal_in_use() const noexcept { return profile_.in_use(); }
  // The z-score stage (its own anomalies() count |z| > threshold; it decides what the baseline learns).
  [[nodiscard]] const zscore_type& zscore() const noexcept { return zscore_; }
  [[nodiscard]] T z_of(const T& x) const noexcept { return zscore_.z_of(x); }

  void reset() noexcept {
    zscore_.reset();
    residual_z_.reset();
    profile_.reset();
    profile_.period = seasonal_.period;
    pace_.reset();
    rank_.reset();
    recent_p_ = detail::recent_minimum<T, calibration_options::max_quiet>{};
    episodes_ = detail::episode_tracker{};
  }

 private:
  static const calibration_options& checked(const calibration_options& c) {
    if (!(c.span >= 1.0) || !detail::is_finite(c.span)) {
      throw std::invalid_argument(
          "streamstats::anomaly_detector: calibration span must be a finite number >= 1, got " +
          std::to_string(c.span));
    }
    if (!(c.alert_p > 0.0 && c.alert_p <= 1.0)) {
      throw std::invalid_argument("streamstats::anomaly_detector: alert_p must be in (0, 1], got " +
                                  std::to_string(c.alert_p));
    }
    if (c.quiet > calibration_options::max_quiet) {
      throw std::invalid_argument("streamstats::anomaly_detector: quiet must be <= max_quiet (32), got " +
                                  std::to_string(c.quiet));
    }
    return c;
  }
  static const seasonal_options& checked(const seasonal_options& s) {
    if (s.period > seasonal_options::max_period) {
      throw std::invalid_argument("streamstats::anomaly_detector: period must be <= 2^32, got " +
                                  std::to_string(s.period));
    }
    if (!(s.slot_alpha > 0.0 && s.slot_alpha <= 1.0)) {
      throw std::invalid_argument("streamstats::anomaly_detector: slot_alpha must be in (0, 1], got " +
                                  std::to_string(s.slot_alpha));
    }
    if (!(s.cycle >= 0.0) || !detail::is_finite(s.cycle)) {
      throw std::invalid_argument(
          "streamstats::anomaly_detector: cycle must be a finite number >= 0 (seconds), got " +
          std::to_string(s.cycle));
    }
    if (!(s.use_ratio >= 0.0) || !detail::is_finite(s.use_ratio)) {
      throw std::invalid_argument(
          "streamstats::anomaly_detector: use_ratio must be a finite number >= 0, got " +
          std::to_string(s.use_ratio));
    }
    return s;
  }

  zscore_type zscore_;
  zscore_type residual_z_;  // the same z-score stage over the seasonal residual (period > 0)
  score_rank<T> rank_;
  calibration_options calibration_{};
  seasonal_options seasonal_{};
  detail::seasonal_profile<T> profile_{};
  detail::stream_pace pace_{};  // the pace and phase of timestamped samples (seasonal_options::cycle)
  detail::recent_minimum<T, calibration_options::max_quiet> recent_p_{};  // the rare p of the last `quiet`
  T alert_p_ = T(0);                                                      // +Inf when alert_p = 1 (no veto)
  T full_ = T(1);  // (span + 1)/2: the effective sample count of a full memory
  detail::episode_tracker episodes_{};
};

}  // namespace streamstats
