// streamstats::websocket — what the server computes for one stream.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/extrema.hpp>
#include <streamstats/variance.hpp>
#include <streamstats/websocket/json_writer.hpp>

#if __has_include(<streamstats/sma.hpp>)
#include <streamstats/sma.hpp>
#define STREAMSTATS_WS_HAS_SMA 1
#else
#define STREAMSTATS_WS_HAS_SMA 0
#endif
#if __has_include(<streamstats/ema.hpp>)
#include <streamstats/ema.hpp>
#define STREAMSTATS_WS_HAS_EMA 1
#else
#define STREAMSTATS_WS_HAS_EMA 0
#endif
#if __has_include(<streamstats/zscore_detector.hpp>)
#include <streamstats/zscore_detector.hpp>
#define STREAMSTATS_WS_HAS_DETECTOR 1
#else
#define STREAMSTATS_WS_HAS_DETECTOR 0
#endif

#include <cmath>
#include <cstddef>
#include <functional>
#include <memory>
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

// The statistics bound to one stream. The server calls push() once per accepted sample (always
// finite: non-finite input is rejected before it reaches a pipeline) and write_stats() when it
// builds a snapshot (on the snapshot timer, never per sample). Both run on the server's io thread
// only, so an implementation needs no locking.
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
  // Writes the fields of the snapshot's "stats" object.
  virtual void write_stats(stats_writer& out) const = 0;
};

// Decides the pipeline of a stream when it is created (first push), by its name.
using pipeline_factory = std::function<std::unique_ptr<pipeline>(std::string_view stream)>;

struct default_pipeline_options {
  // EMA span (pandas ewm(span=...)): alpha = 2 / (span + 1).
  double ema_span = 20.0;
  // band_lo / band_hi = ema ∓ band_k · stddev.
  double band_k = 3.0;
#if STREAMSTATS_WS_HAS_DETECTOR
  zscore_options detector{};
#endif
};

// The default: count, mean, stddev (n − 1), min, max, SMA over the last SmaWindow samples,
// EMA, and a z-score detector on a cumulative baseline; snapshot fields
//   mean stddev min max sma ema z score band_lo band_hi
// where z and score are those of the last sample (NaN → null while the detector warms up) and
// band_lo/band_hi = ema ∓ band_k·stddev, the envelope the dashboard draws.
template <std::size_t SmaWindow = 20>
class basic_default_pipeline final : public pipeline {
 public:
  explicit basic_default_pipeline(default_pipeline_options options = {}) noexcept
      : options_(options)
#if STREAMSTATS_WS_HAS_EMA
        ,
        ema_(ema<double>::from_span(options.ema_span))
#endif
#if STREAMSTATS_WS_HAS_DETECTOR
        ,
        detector_(variance<double>{}, options.detector)
#endif
  {
  }

  bool push(double x, alert_info& alert) noexcept override {
    bool fired = false;
#if STREAMSTATS_WS_HAS_DETECTOR
    // Scored before the other statistics learn x (the detector keeps its own baseline).
    const auto r = detector_.push(x);
    last_z_ = r.z;
    last_score_ = r.score;
    if (r.new_episode) {
      alert.z = r.z;
      alert.score = r.score;
      fired = true;
    }
#else
    (void)alert;
#endif
    variance_.push(x);
    extrema_.push(x);
#if STREAMSTATS_WS_HAS_SMA
    sma_.push(x);
#endif
#if STREAMSTATS_WS_HAS_EMA
    ema_.push(x);
#endif
    return fired;
  }

  void write_stats(stats_writer& out) const override {
    const double sd = variance_.stddev();
    out.field("mean", variance_.mean());
    out.field("stddev", sd);
    out.field("min", extrema_.min());
    out.field("max", extrema_.max());
#if STREAMSTATS_WS_HAS_SMA
    out.field("sma", sma_.value());
#endif
#if STREAMSTATS_WS_HAS_EMA
    const double centre = ema_.value();
    out.field("ema", centre);
#else
    const double centre = variance_.mean();
#endif
#if STREAMSTATS_WS_HAS_DETECTOR
    out.field("z", last_z_);
    out.field("score", last_score_);
#endif
    out.field("band_lo", centre - options_.band_k * sd);
    out.field("band_hi", centre + options_.band_k * sd);
  }

 private:
  default_pipeline_options options_;
  variance<double> variance_{};
  extrema<double> extrema_{};
#if STREAMSTATS_WS_HAS_SMA
  sma<double, SmaWindow> sma_{};
#endif
#if STREAMSTATS_WS_HAS_EMA
  ema<double> ema_;
#endif
#if STREAMSTATS_WS_HAS_DETECTOR
  zscore_detector<variance<double>> detector_;
  double last_z_ = std::nan("");
  double last_score_ = std::nan("");
#endif
};

using default_pipeline = basic_default_pipeline<>;

// A factory that gives every stream a default_pipeline with these options.
[[nodiscard]] inline pipeline_factory default_pipeline_factory(default_pipeline_options options = {}) {
  return [options](std::string_view /*stream*/) -> std::unique_ptr<pipeline> {
    return std::make_unique<default_pipeline>(options);
  };
}

}  // namespace streamstats::websocket
