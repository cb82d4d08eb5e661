// streamstats::websocket — what the server computes for one stream.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/ema.hpp>
#include <streamstats/extrema.hpp>
#include <streamstats/sma.hpp>
#include <streamstats/state.hpp>
#include <streamstats/variance.hpp>
#include <streamstats/websocket/json_writer.hpp>
#include <streamstats/websocket/pipeline_state.hpp>
#include <streamstats/zscore_detector.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <string_view>

namespace streamstats::websocket {

// Filled by pipeline::push when a sample starts an alert episode.
struct alert_info {
  double z = 0.0;
  double score = 0.0;
};

// Writes the "stats" object of a snapshot: one `name: number` field per call (non-finite → null).
class stats_writer {
 public:
  explicit stats_writer(json_writer& w) noexcept : w_(w) {}
  void field(std::string_view name, double v) { w_.member_number(name, v); }

 private:
  json_writer& w_;
};

// Receives the alerts of a batch (see pipeline::push_batch).
class alert_sink {
 public:
  // Sample `offset` of the batch (value `x`) starts a new alert episode.
  virtual void on_alert(std::size_t offset, double x, const alert_info& alert) = 0;

 protected:
  alert_sink() = default;
  alert_sink(const alert_sink&) = default;
  alert_sink& operator=(const alert_sink&) = default;
  alert_sink(alert_sink&&) = default;
  alert_sink& operator=(alert_sink&&) = default;
  ~alert_sink() = default;
};

// The largest |sample| a stream accepts (protocol.hpp's check_samples refuses larger finite ones
// with error out_of_range, NaN/±Inf with non_finite). Finite is not enough: [1.7e308, -1.7e308]
// overflows every sum of squares, and the stream's mean and stddev would stay null for good.
// Why 1e60: with |x| ≤ B every intermediate of the default pipeline is at most ~10 B (band, SMA
// sum), or a sum of squared deviations of data shifted by one of its samples (Welford's M2 in
// variance<T> and rolling_variance<T, 64>): deviations ≤ 4B, so ≤ 16 B² n. For n up to 2^64 that is
// 3e140, and 168 decades below DBL_MAX ≈ 1.8e308. The margin is there for custom pipelines: the
// core's highest power is the fourth (moments<T>, whose merge multiplies (4B)^4 by up to n²), and
// 256 · 2^128 · B^4 ≈ 9e280 is still finite. Real data sits far inside ±1e60.
inline constexpr double max_sample_magnitude = 1e60;
static_assert(16.0 * 18446744073709551616.0 * max_sample_magnitude * max_sample_magnitude <
                  1e-100 * std::numeric_limits<double>::max(),
              "max_sample_magnitude: Welford's M2 must stay finite for 2^64 samples with room to spare");
static_assert(256.0 * 18446744073709551616.0 * 18446744073709551616.0 * max_sample_magnitude *
                      max_sample_magnitude * max_sample_magnitude * max_sample_magnitude <
                  std::numeric_limits<double>::max(),
              "max_sample_magnitude: fourth central moments must stay finite for 2^64 samples");

// The statistics bound to one stream. The server calls push() once per accepted sample (always
// finite and within ±max_sample_magnitude: other input is rejected before it reaches a pipeline) and
// write_stats() when it builds a snapshot (on the snapshot timer, never per sample). Both run on the server's
// io thread only, so an implementation needs no locking.
class pipeline {
 public:
  pipeline() = default;
  pipeline(const pipeline&) = default;
  pipeline& operator=(const pipeline&) = default;
  pipeline(pipeline&&) = default;
  pipeline& operator=(pipeline&&) = default;
  virtual ~pipeline() = default;

  // Learns one finite sample. Returns true, with `alert` filled, when this sample starts a new
  // alert episode (the server then sends an "alert" message to the stream's subscribers at once).
  virtual bool push(double x, alert_info& alert) noexcept = 0;
  // Learns n ≥ 1 finite samples in order, reporting each sample that starts an alert episode.
  // Same result as n calls of push() (up to rounding); override it when the accumulators have a
  // faster batch path (binary frames and JSON batches arrive through here).
  virtual void push_batch(const double* x, std::size_t n, alert_sink& alerts) noexcept {
    alert_info a;
    for (std::size_t i = 0; i < n; ++i) {
      if (push(x[i], a)) {
        alerts.on_alert(i, x[i], a);
      }
    }
  }
  // Writes the fields of the snapshot's "stats" object.
  virtual void write_stats(stats_writer& out) const = 0;

  // Checkpoints (issue 11; docs/state-format.md, "Pipeline states"). A pipeline that can save and
  // restore its exact state overrides all three; the server checkpoints only the streams whose
  // pipeline says supports_state(), and says which it skips.
  [[nodiscard]] virtual bool supports_state() const noexcept { return false; }
  // Appends this pipeline's state to `out`: its accumulators' exact states and the identity of its
  // configuration. Throws state_error when the pipeline does not support states.
  virtual void save_state(std::string& /*out*/) const { unsupported(); }
  // Replaces this pipeline's state with the one in `bytes`, after which it continues bit for bit as
  // the saved pipeline would have. Throws state_error, leaving the pipeline unchanged, on bytes that
  // are not a valid state, and on a state saved by another pipeline class or configuration (another
  // window, α, detector option, set of statistics...), with both configurations in the message.
  virtual void load_state(std::string_view /*bytes*/) { unsupported(); }

 private:
  [[noreturn]] static void unsupported() {
    throw state_error(state_errc::type_mismatch,
                      "this pipeline does not support saved states (it does not override "
                      "pipeline::supports_state, save_state and load_state)");
  }
};

// Decides the pipeline of a stream when it is created (first push), by its name.
using pipeline_factory = std::function<std::unique_ptr<pipeline>(std::string_view stream)>;

struct default_pipeline_options {
  // EMA span (pandas ewm(span=..., adjust=False)): alpha = 2 / (span + 1).
  double ema_span = 20.0;
  // The detector (anomaly_detector<double>: z-score against the last 64 samples); its threshold
  // is also the half-width of the band, in standard deviations.
  zscore_options detector{};
  // false: no detector (no alerts; z, score, band_lo, band_hi are null), for very high-rate
  // streams that need no alerts. The detector costs ≈ 12 ns per sample: its exact tail-probability
  // score (≈ 55 ns) is computed only for alerts and snapshots, never per sample.
  bool detect = true;
};

// The default: count, mean, stddev (n − 1), min, max, SMA over the last SmaWindow samples, EMA,
// and the recommended anomaly_detector<double>. Snapshot "stats" fields:
//   mean, stddev, min, max   over every sample of the stream (Welford; stddev null below 2 samples)
//   sma                      mean of the last SmaWindow samples (of fewer while the window fills)
//   ema                      ema<double>::from_span(ema_span), pandas adjust=False
//   z, score                 the detector's z and score of the last sample (null before it has a
//                            baseline of 2 samples)
//   band_lo, band_hi         the detector's envelope for the NEXT sample: baseline mean ∓
//                            threshold · baseline stddev (outside it, a sample is flagged once the
//                            detector is warm), the band the dashboard draws around the series
// Alerts: one per detector episode (its new_episode flag), with that sample's z and score.
template <std::size_t SmaWindow = 20>
class basic_default_pipeline final : public pipeline {
 public:
  // Throws std::invalid_argument on an invalid ema_span or detector option.
  explicit basic_default_pipeline(const default_pipeline_options& options = {})
      : ema_(ema<double>::from_span(options.ema_span)),
        detector_(options.detector),
        detect_(options.detect) {}

  bool push(double x, alert_info& alert) noexcept override {
    variance_.push(x);
    extrema_.push(x);
    sma_.push(x);
    ema_.push(x);
    if (!detect_) {
      return false;
    }
    // The detector keeps its own baseline and scores x against it before learning it.
    const auto r = detector_.push(x);
    last_z_ = r.z;
    if (r.new_episode) {
      alert.z = r.z;
      alert.score = r.score();  // the tail probability is computed only for what is reported
      return true;
    }
    return false;
  }

  // The detector scores sample by sample (each is judged against the baseline before it); the
  // other accumulators take the block through their batch paths.
  void push_batch(const double* x, std::size_t n, alert_sink& alerts) noexcept override {
    for (std::size_t i = 0; i < n && detect_; ++i) {
      const auto r = detector_.push(x[i]);
      if (r.new_episode) {
        alerts.on_alert(i, x[i], alert_info{r.z, r.score()});
      }
      last_z_ = r.z;
    }
    variance_.push(x, x + n);
    extrema_.push(x, x + n);
    sma_.push(x, x + n);
    ema_.push(x, x + n);
  }

  [[nodiscard]] bool supports_state() const noexcept override { return true; }

  // Layout: last z, then the states of variance, extrema, sma, ema and (when detect) the detector.
  void save_state(std::string& out) const override {
    detail::pipeline_state_writer w(out, pipeline_state_kind::default_pipeline, identity());
    w.value(last_z_);
    w.member(variance_);
    w.member(extrema_);
    w.member(sma_);
    w.member(ema_);
    if (detect_) {
      w.member(detector_);
    }
    w.finish();
  }

  void load_state(std::string_view bytes) override {
    detail::pipeline_state_reader r(bytes, pipeline_state_kind::default_pipeline, identity(),
                                    "default_pipeline");
    // Decoded into a copy, assigned only once every member has loaded.
    basic_default_pipeline tmp(*this);
    tmp.last_z_ = r.value();
    r.member(tmp.variance_, "variance");
    r.member(tmp.extrema_, "extrema");
    r.member(tmp.sma_, "sma");
    r.member(tmp.ema_, "ema");
    if (detect_) {
      r.member(tmp.detector_, "detector");
    }
    r.finish();
    *this = tmp;
  }

  // Every parameter that shapes the state (the SMA window, EMA α, whether there is a detector and
  // its options and calibration), as text: a state is loaded only into a pipeline whose identity is
  // the same (docs/state-format.md).
  [[nodiscard]] std::string identity() const {
    detail::pipeline_identity id("default_pipeline");
    id.add("sma", std::uint64_t{SmaWindow}).add("ema_alpha", ema_.alpha());
    id.add("detect", std::uint64_t{detect_ ? 1U : 0U});
    if (detect_) {
      const auto& o = detector_.options();
      const auto& c = detector_.calibration();
      id.add("threshold", o.threshold)
          .add("side", std::uint64_t{static_cast<unsigned char>(o.side)})
          .add("warmup", std::uint64_t{o.warmup})
          .add("learning", std::uint64_t{static_cast<unsigned char>(o.learning)})
          .add("relearn_after", std::uint64_t{o.relearn_after})
          .add("cooldown", std::uint64_t{o.cooldown})
          .add("min_stddev", o.min_stddev)
          .add("resolution_floor", o.resolution_floor)
          .add("calibration_span", c.span)
          .add("calibration_learning", std::uint64_t{c.learning})
          .add("alert_p", c.alert_p);
    }
    return id.str();
  }

  void write_stats(stats_writer& out) const override {
    out.field("mean", variance_.mean());
    out.field("stddev", variance_.stddev());
    out.field("min", extrema_.min());
    out.field("max", extrema_.max());
    out.field("sma", sma_.value());
    out.field("ema", ema_.value());
    out.field("z", last_z_);
    // Scored here, once per snapshot, rather than for every sample pushed.
    out.field("score", last_z_ == last_z_ ? zscore_anomaly_score(last_z_, detector_.options().side)
                                          : std::numeric_limits<double>::quiet_NaN());
    if (!detect_) {
      out.field("band_lo", std::numeric_limits<double>::quiet_NaN());
      out.field("band_hi", std::numeric_limits<double>::quiet_NaN());
      return;
    }
    const auto& base = detector_.baseline();
    const double sd = std::max(base.stddev(), detector_.options().min_stddev);
    const double k = detector_.options().threshold;
    out.field("band_lo", base.mean() - k * sd);
    out.field("band_hi", base.mean() + k * sd);
  }

 private:
  variance<double> variance_{};
  extrema<double> extrema_{};
  sma<double, SmaWindow> sma_{};
  ema<double> ema_;
  anomaly_detector<double> detector_;
  double last_z_ = std::numeric_limits<double>::quiet_NaN();
  bool detect_ = true;
};

using default_pipeline = basic_default_pipeline<>;

// A factory that gives every stream a default_pipeline with these options.
[[nodiscard]] inline pipeline_factory default_pipeline_factory(default_pipeline_options options = {}) {
  // Built once here, so that invalid options throw from this call rather than on the io thread.
  basic_default_pipeline<> check(options);
  (void)check;
  return [options](std::string_view /*stream*/) -> std::unique_ptr<pipeline> {
    return std::make_unique<default_pipeline>(options);
  };
}

}  // namespace streamstats::websocket
