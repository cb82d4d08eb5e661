// streamstats::websocket — declarative pipelines: which statistics a stream gets, chosen at run
// time by the stream's name (streamstatsd's [[pipeline]] tables), no recompiling.
// SPDX-License-Identifier: MIT
//
//   std::vector<pipeline_spec> specs = ...;            // first matching `match` glob wins
//   options.make_pipeline = spec_pipeline_factory(specs);  // throws on an invalid spec
//
// Snapshot "stats" fields, each present exactly when its statistic is configured:
//   count, mean, stddev, variance, min, max   every sample of the stream (Welford, n − 1)
//   sma                                        mean of the last `sma` samples
//   rolling_mean, rolling_stddev, rolling_variance   the last `rolling_variance` samples (n − 1)
//   rolling_min, rolling_max                   the last `rolling_extrema` samples
//   ema                                        pandas ewm(span=…) or ewm(halflife=…), adjust=False
//   p50, p99, p99.9, …                         P² quantile<double> per probability ("p" + 100·p)
//   z, score, band_lo, band_hi                 the z-score detector (as in default_pipeline)
#pragma once

#include <streamstats/ddsketch.hpp>
#include <streamstats/ema.hpp>
#include <streamstats/extrema.hpp>
#include <streamstats/quantile.hpp>
#include <streamstats/rolling_extrema.hpp>
#include <streamstats/rolling_variance.hpp>
#include <streamstats/sma.hpp>
#include <streamstats/variance.hpp>
#include <streamstats/websocket/pipeline.hpp>
#include <streamstats/zscore_detector.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace streamstats::websocket {

// The largest window a spec may ask for (sma, rolling_variance, rolling_extrema): each window is
// the core's sma<double, N>(length) etc., a fixed ring of this compiled capacity (no allocation per
// sample) of which the configured length is used. A window costs its capacity in memory whatever
// its length, and only when the spec enables it.
inline constexpr std::size_t pipeline_window_capacity = 4096;
// The most quantiles one spec may track (each is a P² estimator: five markers, ~15 ns per push).
inline constexpr std::size_t pipeline_max_quantiles = 16;
// The bins of a spec's quantile sketch: ddsketch<double, pipeline_sketch_bins>, 16.5 KB per stream
// when enabled. At α = 0.01 a store covers a ratio of ~7e8 between its largest and smallest
// magnitude (e.g. 1 µs … 700 s); data that span more collapse the lowest bins, and only the quantiles
// answered from the lowest bin lose the guarantee (ddsketch.hpp, "Collapse").
inline constexpr std::size_t pipeline_sketch_bins = 1024;

// The cumulative statistics (over every sample of the stream). Off by default: a spec lists what
// it wants.
struct cumulative_spec {
  bool count = false;
  bool mean = false;
  bool stddev = false;
  bool variance = false;
  bool min = false;
  bool max = false;
};

struct detector_spec {
  // false: no z, score, band_lo, band_hi fields and no alerts.
  bool enabled = false;
  // The detector is anomaly_detector<double> (z-score against the last 64 samples) with these
  // options; threshold, side, warmup and min_stddev are configurable, the rest keep their defaults.
  zscore_options options{};
  // The daily (weekly, ...) cycle stage: period in samples (0 = off), slot_alpha, use_ratio
  // (streamstats::seasonal_options). Worth setting when a stream's samples come at a fixed pace and
  // it has a cycle: on the NAB dev split it lifts the alerts from 40.3 to 59.4 (README, Anomaly
  // detection).
  seasonal_options seasonal{};
};

// What one group of streams computes. Every statistic is off unless set.
struct pipeline_spec {
  // Glob over the stream name: `*` any run of characters (also none), `?` exactly one character
  // (a UTF-8 code point), everything else literal. Case-sensitive.
  std::string match = "*";
  cumulative_spec cumulative{};
  // Window lengths in samples, 1 … pipeline_window_capacity; 0 = off.
  std::size_t sma = 0;
  std::size_t rolling_variance = 0;
  std::size_t rolling_extrema = 0;
  // At most one of these > 0 (pandas ewm span ≥ 1, or halflife > 0); both 0 = no EMA.
  double ema_span = 0.0;
  double ema_halflife = 0.0;
  // Probabilities in (0, 1), at most pipeline_max_quantiles, no duplicates.
  std::vector<double> quantiles;
  // Quantiles from one DDSketch (relative accuracy sketch_accuracy, mergeable across shards):
  // probabilities in [0, 1], at most pipeline_max_quantiles, none also in `quantiles` (same field
  // names, "p50"); empty = no sketch. |reported − exact lower quantile| ≤ α·|exact|.
  std::vector<double> sketch_quantiles;
  double sketch_accuracy = 0.01;
  detector_spec detector{};
};

// The adapter's default_pipeline, as a spec: mean, stddev, min, max, sma(20), ema(span 20) and the
// detector with its default options. Streams that match no configured spec get this one.
[[nodiscard]] inline pipeline_spec default_pipeline_spec() {
  pipeline_spec s;
  s.cumulative.mean = s.cumulative.stddev = s.cumulative.min = s.cumulative.max = true;
  s.sma = 20;
  s.ema_span = 20.0;
  s.detector.enabled = true;
  return s;
}

// The snapshot field name of quantile p: "p" followed by 100·p with up to 6 significant digits
// (0.5 → "p50", 0.99 → "p99", 0.999 → "p99.9", 0.001 → "p0.1").
[[nodiscard]] inline std::string quantile_field_name(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "p%.6g", p * 100.0);
  return buf;
}

// Glob match as documented on pipeline_spec::match. Iterative with one backtrack point (the last
// `*`), so it is linear in practice and never recurses.
[[nodiscard]] inline bool glob_match(std::string_view pattern, std::string_view name) noexcept {
  // One character = one UTF-8 code point: a lead byte and its continuation bytes (10xxxxxx).
  auto next_char = [](std::string_view s, std::size_t i) {
    ++i;
    while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0U) == 0x80U) {
      ++i;
    }
    return i;
  };
  std::size_t p = 0;
  std::size_t n = 0;
  std::size_t star = std::string_view::npos;
  std::size_t star_n = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_n = n;
    } else if (p < pattern.size() && pattern[p] == '?') {
      ++p;
      n = next_char(name, n);
    } else if (p < pattern.size() && pattern[p] == name[n]) {
      ++p;
      ++n;
    } else if (star != std::string_view::npos) {
      // Let the last `*` swallow one more character and retry from there.
      p = star + 1;
      star_n = next_char(name, star_n);
      n = star_n;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') {
    ++p;
  }
  return p == pattern.size();
}

// The first problem with a spec, as "key: reason" (key as in streamstatsd's [[pipeline]] table),
// or an empty string when the spec is valid.
[[nodiscard]] inline std::string check_pipeline_spec(const pipeline_spec& s) {
  auto window = [](const char* key, std::size_t n) -> std::string {
    if (n > pipeline_window_capacity) {
      return std::string(key) + ": window length " + std::to_string(n) + " is above the compiled capacity " +
             std::to_string(pipeline_window_capacity);
    }
    return {};
  };
  if (s.match.empty()) {
    return "match: the glob is empty";
  }
  for (const auto& e : {window("sma", s.sma), window("rolling_variance", s.rolling_variance),
                        window("rolling_extrema", s.rolling_extrema)}) {
    if (!e.empty()) {
      return e;
    }
  }
  if (s.ema_span != 0.0 && s.ema_halflife != 0.0) {
    return "ema_span: ema_span and ema_halflife are exclusive";
  }
  if (s.ema_span != 0.0 && !(s.ema_span >= 1.0 && std::isfinite(s.ema_span))) {
    return "ema_span: must be ≥ 1 (pandas span), or 0 for no EMA";
  }
  if (s.ema_halflife != 0.0 && !(s.ema_halflife > 0.0 && std::isfinite(s.ema_halflife))) {
    return "ema_halflife: must be > 0, or 0 for no EMA";
  }
  if (s.quantiles.size() > pipeline_max_quantiles) {
    return "quantiles: at most " + std::to_string(pipeline_max_quantiles) + " probabilities";
  }
  for (std::size_t i = 0; i < s.quantiles.size(); ++i) {
    const double p = s.quantiles[i];
    if (!(p > 0.0 && p < 1.0)) {
      return "quantiles: " + std::to_string(p) + " is not in (0, 1)";
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (quantile_field_name(s.quantiles[j]) == quantile_field_name(p)) {
        return "quantiles: " + quantile_field_name(p) + " is listed twice";
      }
    }
  }
  if (s.sketch_quantiles.size() > pipeline_max_quantiles) {
    return "sketch_quantiles: at most " + std::to_string(pipeline_max_quantiles) + " probabilities";
  }
  for (std::size_t i = 0; i < s.sketch_quantiles.size(); ++i) {
    const double p = s.sketch_quantiles[i];
    if (!(p >= 0.0 && p <= 1.0)) {
      return "sketch_quantiles: " + std::to_string(p) + " is not in [0, 1]";
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (quantile_field_name(s.sketch_quantiles[j]) == quantile_field_name(p)) {
        return "sketch_quantiles: " + quantile_field_name(p) + " is listed twice";
      }
    }
    for (const double q : s.quantiles) {
      if (quantile_field_name(q) == quantile_field_name(p)) {
        return "sketch_quantiles: " + quantile_field_name(p) + " is also in quantiles (one field each)";
      }
    }
  }
  if (!s.sketch_quantiles.empty() && !(s.sketch_accuracy > 0.0 && s.sketch_accuracy < 1.0)) {
    return "sketch_accuracy: must be in (0, 1)";
  }
  if (s.detector.enabled) {
    const auto& o = s.detector.options;
    if (!(o.threshold > 0.0 && std::isfinite(o.threshold))) {
      return "detector_threshold: must be a finite number > 0";
    }
    if (o.warmup < 2) {
      return "detector_warmup: must be at least 2";
    }
    if (!(o.min_stddev >= 0.0 && std::isfinite(o.min_stddev))) {
      return "detector_min_stddev: must be a finite number ≥ 0";
    }
    const auto& z = s.detector.seasonal;
    if (z.period > seasonal_options::max_period) {
      return "detector_period: must be at most 2^32 samples";
    }
    if (!(z.slot_alpha > 0.0 && z.slot_alpha <= 1.0)) {
      return "detector_slot_alpha: must be in (0, 1]";
    }
    if (!(z.use_ratio >= 0.0 && std::isfinite(z.use_ratio))) {
      return "detector_use_ratio: must be a finite number ≥ 0";
    }
  }
  return {};
}

// A pipeline built from a spec at run time: only the configured accumulators exist, each window
// at its configured length. push() costs what those accumulators cost plus one predictable branch
// per optional part.
class spec_pipeline final : public pipeline {
 public:
  using sma_type = sma<double, pipeline_window_capacity>;
  using rolling_variance_type = rolling_variance<double, pipeline_window_capacity>;
  using rolling_extrema_type = rolling_extrema<double, pipeline_window_capacity>;
  using sketch_type = ddsketch<double, pipeline_sketch_bins>;

  // Throws std::invalid_argument when check_pipeline_spec(spec) finds a problem.
  explicit spec_pipeline(const pipeline_spec& spec) : spec_(spec) {
    if (const std::string e = check_pipeline_spec(spec); !e.empty()) {
      throw std::invalid_argument("streamstats::websocket::spec_pipeline: " + e);
    }
    const auto& c = spec.cumulative;
    use_variance_ = c.count || c.mean || c.stddev || c.variance;
    use_extrema_ = c.min || c.max;
    if (spec.sma > 0) {
      sma_ = std::make_unique<sma_type>(spec.sma);
    }
    if (spec.rolling_variance > 0) {
      rolling_variance_ = std::make_unique<rolling_variance_type>(spec.rolling_variance);
    }
    if (spec.rolling_extrema > 0) {
      rolling_extrema_ = std::make_unique<rolling_extrema_type>(spec.rolling_extrema);
    }
    if (spec.ema_span > 0.0) {
      ema_ = std::make_unique<ema<double>>(ema<double>::from_span(spec.ema_span));
    } else if (spec.ema_halflife > 0.0) {
      ema_ = std::make_unique<ema<double>>(ema<double>::from_halflife(spec.ema_halflife));
    }
    quantiles_.reserve(spec.quantiles.size());
    for (const double p : spec.quantiles) {
      quantiles_.emplace_back(p);
      quantile_names_.push_back(quantile_field_name(p));
    }
    if (!spec.sketch_quantiles.empty()) {
      sketch_ = std::make_unique<sketch_type>(spec.sketch_accuracy);
      for (const double p : spec.sketch_quantiles) {
        sketch_names_.push_back(quantile_field_name(p));
      }
    }
    if (spec.detector.enabled) {
      detector_ = std::make_unique<anomaly_detector<double>>(spec.detector.options, calibration_options{},
                                                             spec.detector.seasonal);
    }
  }

  bool push(double x, alert_info& alert) noexcept override {
    learn_one(x);
    if (!detector_) {
      return false;
    }
    const auto r = detector_->push(x);
    last_z_ = r.z;
    if (r.new_episode) {
      alert.z = r.z;
      alert.score = r.score();
      return true;
    }
    return false;
  }

  void push_batch(const double* x, std::size_t n, alert_sink& alerts) noexcept override {
    if (detector_) {
      for (std::size_t i = 0; i < n; ++i) {
        const auto r = detector_->push(x[i]);
        if (r.new_episode) {
          alerts.on_alert(i, x[i], alert_info{r.z, r.score()});
        }
        last_z_ = r.z;
      }
    }
    if (use_variance_) {
      variance_.push(x, x + n);
    }
    if (use_extrema_) {
      extrema_.push(x, x + n);
    }
    if (sma_) {
      sma_->push(x, x + n);
    }
    if (rolling_variance_) {
      rolling_variance_->push(x, x + n);
    }
    if (rolling_extrema_) {
      rolling_extrema_->push(x, x + n);
    }
    if (ema_) {
      ema_->push(x, x + n);
    }
    for (auto& q : quantiles_) {
      q.push(x, x + n);
    }
    if (sketch_) {
      sketch_->push(x, x + n);
    }
  }

  void write_stats(stats_writer& out) const override {
    const auto& c = spec_.cumulative;
    if (c.count) {
      out.field("count", static_cast<double>(variance_.count()));
    }
    if (c.mean) {
      out.field("mean", variance_.mean());
    }
    if (c.stddev) {
      out.field("stddev", variance_.stddev());
    }
    if (c.variance) {
      out.field("variance", variance_.sample_variance());
    }
    if (c.min) {
      out.field("min", extrema_.min());
    }
    if (c.max) {
      out.field("max", extrema_.max());
    }
    if (sma_) {
      out.field("sma", sma_->value());
    }
    if (rolling_variance_) {
      out.field("rolling_mean", rolling_variance_->mean());
      out.field("rolling_stddev", rolling_variance_->stddev());
      out.field("rolling_variance", rolling_variance_->sample_variance());
    }
    if (rolling_extrema_) {
      out.field("rolling_min", rolling_extrema_->min());
      out.field("rolling_max", rolling_extrema_->max());
    }
    if (ema_) {
      out.field("ema", ema_->value());
    }
    for (std::size_t i = 0; i < quantiles_.size(); ++i) {
      out.field(quantile_names_[i], quantiles_[i].value());
    }
    if (sketch_) {
      for (std::size_t i = 0; i < sketch_names_.size(); ++i) {
        out.field(sketch_names_[i], sketch_->quantile(spec_.sketch_quantiles[i]));
      }
    }
    if (detector_) {
      out.field("z", last_z_);
      out.field("score", last_z_ == last_z_ ? zscore_anomaly_score(last_z_, detector_->options().side)
                                            : std::numeric_limits<double>::quiet_NaN());
      const auto& base = detector_->baseline();
      const double sd = std::max(base.stddev(), detector_->options().min_stddev);
      const double k = detector_->options().threshold;
      out.field("band_lo", base.mean() - k * sd);
      out.field("band_hi", base.mean() + k * sd);
    }
  }

  [[nodiscard]] const pipeline_spec& spec() const noexcept { return spec_; }

  [[nodiscard]] bool supports_state() const noexcept override { return true; }

  // Layout: last z, then the state of each configured accumulator in this order: variance,
  // extrema, sma, rolling_variance, rolling_extrema, ema, each quantile, the sketch, the detector.
  void save_state(std::string& out) const override {
    detail::pipeline_state_writer w(out, pipeline_state_kind::spec_pipeline, identity());
    w.value(last_z_);
    if (use_variance_) {
      w.member(variance_);
    }
    if (use_extrema_) {
      w.member(extrema_);
    }
    if (sma_) {
      w.member(*sma_);
    }
    if (rolling_variance_) {
      w.member(*rolling_variance_);
    }
    if (rolling_extrema_) {
      w.member(*rolling_extrema_);
    }
    if (ema_) {
      w.member(*ema_);
    }
    for (const auto& q : quantiles_) {
      w.member(q);
    }
    if (sketch_) {
      w.member(*sketch_);
    }
    if (detector_) {
      w.member(*detector_);
    }
    w.finish();
  }

  void load_state(std::string_view bytes) override {
    detail::pipeline_state_reader r(bytes, pipeline_state_kind::spec_pipeline, identity(), "spec_pipeline");
    // Every member is decoded into a new object; they replace this pipeline's only when all loaded.
    const double z = r.value();
    variance<double> v = variance_;
    extrema<double> e = extrema_;
    if (use_variance_) {
      r.member(v, "variance");
    }
    if (use_extrema_) {
      r.member(e, "extrema");
    }
    auto sm = load_window(r, sma_, "sma");
    auto rv = load_window(r, rolling_variance_, "rolling_variance");
    auto re = load_window(r, rolling_extrema_, "rolling_extrema");
    auto em = load_window(r, ema_, "ema");
    std::vector<quantile<double>> qs = quantiles_;
    for (auto& q : qs) {
      r.member(q, "quantile");
    }
    auto sk = load_window(r, sketch_, "sketch");
    auto det = load_window(r, detector_, "detector");
    r.finish();
    last_z_ = z;
    variance_ = v;
    extrema_ = e;
    sma_ = std::move(sm);
    rolling_variance_ = std::move(rv);
    rolling_extrema_ = std::move(re);
    ema_ = std::move(em);
    quantiles_ = std::move(qs);
    sketch_ = std::move(sk);
    detector_ = std::move(det);
  }

  // Every parameter of the spec that shapes the state (not `match`: which streams get a spec does
  // not change what it computes), as text; a state is loaded only into a pipeline of the same
  // identity (docs/state-format.md, "Pipeline states").
  [[nodiscard]] std::string identity() const {
    const auto& c = spec_.cumulative;
    auto flag = [](bool b) { return std::uint64_t{b ? 1U : 0U}; };
    detail::pipeline_identity id("spec_pipeline");
    id.add("count", flag(c.count))
        .add("mean", flag(c.mean))
        .add("stddev", flag(c.stddev))
        .add("variance", flag(c.variance))
        .add("min", flag(c.min))
        .add("max", flag(c.max))
        .add("sma", std::uint64_t{spec_.sma})
        .add("rolling_variance", std::uint64_t{spec_.rolling_variance})
        .add("rolling_extrema", std::uint64_t{spec_.rolling_extrema})
        .add("ema_span", spec_.ema_span)
        .add("ema_halflife", spec_.ema_halflife);
    for (const double p : spec_.quantiles) {
      id.add("quantile", p);
    }
    // Which sketch quantiles are reported does not shape the state: only α does. Absent when there
    // is no sketch, so that states saved before the key existed still load.
    if (!spec_.sketch_quantiles.empty()) {
      id.add("sketch_accuracy", spec_.sketch_accuracy);
    }
    id.add("detector", flag(spec_.detector.enabled));
    if (spec_.detector.enabled) {
      const auto& o = spec_.detector.options;
      id.add("threshold", o.threshold)
          .add("side", std::uint64_t{static_cast<unsigned char>(o.side)})
          .add("warmup", std::uint64_t{o.warmup})
          .add("learning", std::uint64_t{static_cast<unsigned char>(o.learning)})
          .add("relearn_after", std::uint64_t{o.relearn_after})
          .add("cooldown", std::uint64_t{o.cooldown})
          .add("min_stddev", o.min_stddev)
          .add("resolution_floor", o.resolution_floor);
      const auto& z = spec_.detector.seasonal;
      if (z.period > 0) {  // absent when off: states saved before the key existed still load
        id.add("period", std::uint64_t{z.period})
            .add("slot_alpha", z.slot_alpha)
            .add("use_ratio", z.use_ratio);
      }
    }
    return id.str();
  }

 private:
  // A member held by pointer (present only when configured): a fresh object loaded from the state,
  // or null when the member is not configured.
  template <class Acc>
  static std::unique_ptr<Acc> load_window(detail::pipeline_state_reader& r, const std::unique_ptr<Acc>& have,
                                          const char* what) {
    if (!have) {
      return nullptr;
    }
    auto fresh = std::make_unique<Acc>(*have);
    r.member(*fresh, what);
    return fresh;
  }

  void learn_one(double x) noexcept {
    if (use_variance_) {
      variance_.push(x);
    }
    if (use_extrema_) {
      extrema_.push(x);
    }
    if (sma_) {
      sma_->push(x);
    }
    if (rolling_variance_) {
      rolling_variance_->push(x);
    }
    if (rolling_extrema_) {
      rolling_extrema_->push(x);
    }
    if (ema_) {
      ema_->push(x);
    }
    for (auto& q : quantiles_) {
      q.push(x);
    }
  }

  pipeline_spec spec_;
  bool use_variance_ = false;
  bool use_extrema_ = false;
  variance<double> variance_{};
  extrema<double> extrema_{};
  // The windows are large (pipeline_window_capacity samples): allocated once, only when enabled.
  std::unique_ptr<sma_type> sma_;
  std::unique_ptr<rolling_variance_type> rolling_variance_;
  std::unique_ptr<rolling_extrema_type> rolling_extrema_;
  std::unique_ptr<ema<double>> ema_;
  std::vector<quantile<double>> quantiles_;
  std::vector<std::string> quantile_names_;
  std::unique_ptr<sketch_type> sketch_;
  std::vector<std::string> sketch_names_;
  std::unique_ptr<anomaly_detector<double>> detector_;
  double last_z_ = std::numeric_limits<double>::quiet_NaN();
};

// The spec a stream named `name` gets: the first of `specs` whose glob matches, else `fallback`.
[[nodiscard]] inline const pipeline_spec& select_pipeline_spec(const std::vector<pipeline_spec>& specs,
                                                               const pipeline_spec& fallback,
                                                               std::string_view name) noexcept {
  for (const auto& s : specs) {
    if (glob_match(s.match, name)) {
      return s;
    }
  }
  return fallback;
}

// A factory for server_options::make_pipeline: each new stream gets a spec_pipeline of the first
// spec whose glob matches its name (in order: first match wins), or of `fallback` when none does.
// Every spec is checked here, so a bad one throws from this call, never on the io thread.
[[nodiscard]] inline pipeline_factory spec_pipeline_factory(
    std::vector<pipeline_spec> specs, pipeline_spec fallback = default_pipeline_spec()) {
  for (const auto& s : specs) {
    if (const std::string e = check_pipeline_spec(s); !e.empty()) {
      throw std::invalid_argument("pipeline \"" + s.match + "\": " + e);
    }
  }
  if (const std::string e = check_pipeline_spec(fallback); !e.empty()) {
    throw std::invalid_argument("fallback pipeline: " + e);
  }
  auto shared = std::make_shared<const std::pair<std::vector<pipeline_spec>, pipeline_spec>>(
      std::move(specs), std::move(fallback));
  return [shared](std::string_view stream) -> std::unique_ptr<pipeline> {
    return std::make_unique<spec_pipeline>(select_pipeline_spec(shared->first, shared->second, stream));
  };
}

}  // namespace streamstats::websocket
