// The dashboard demo's synthetic streams, shared by dashboard_server (which feeds its own server)
// and feeder (which pushes into any server, e.g. streamstatsd, as a WebSocket producer).
//
// Four streams made of a mean-reverting random walk (Ornstein–Uhlenbeck, so the level wanders but
// stays plausible), a daily-like seasonality compressed to `day` seconds, and injected anomalies —
// isolated spikes at random sample indices (seeded, so a run is reproducible), a level shift on
// "temperature", and, with anomaly_at = N, one large spike on "cpu" at sample N.
// SPDX-License-Identifier: MIT
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace demo {

struct feed_options {
  double rate = 100.0;  // samples per second per stream
  double day = 60.0;    // period of the seasonality, seconds
  std::uint64_t seed = 1;
  long long anomaly_at = -1;  // sample index of the deterministic "cpu" spike, -1 = none
};

constexpr double two_pi = 6.283185307179586;

// One synthetic stream: level + amplitude·sin(2π·phase) + an Ornstein–Uhlenbeck walk, with spikes.
// The OU update x ← x + θ(0 − x) + σ·ε reverts to 0 at rate θ per sample, so its stationary
// standard deviation is σ/sqrt(2θ − θ²): bounded, unlike a plain random walk.
struct synthetic_stream {
  std::string name;
  double level;
  double amplitude;
  double phase_offset;  // fraction of a day
  double ou_theta;
  double ou_sigma;
  double noise;         // white noise on top, standard deviation
  double spike;         // size of an injected spike (sign chosen at random)
  double spike_every;   // mean distance between random spikes, in samples (0 = none)
  bool multiplicative;  // latency-like: exp() of the walk, spikes multiply

  double ou = 0.0;
  std::uint64_t index = 0;
  std::uint64_t next_spike = 0;
  // One generator per stream: its samples depend on the seed and the sample index only, not on
  // how the feed's batches happen to interleave the streams.
  std::mt19937_64 rng{};
};

class feed {
 public:
  explicit feed(const feed_options& o) : o_(o) {
    streams_ = {
        {"cpu", 45.0, 18.0, 0.00, 0.02, 0.6, 1.5, 30.0, 2500.0, false},
        {"latency_ms", 3.0, 0.25, 0.10, 0.05, 0.04, 0.05, 1.6, 3500.0, true},
        {"temperature", 21.0, 2.5, 0.35, 0.01, 0.05, 0.15, 4.0, 0.0, false},
        {"requests_per_s", 500.0, 220.0, 0.05, 0.03, 8.0, 20.0, -300.0, 5000.0, false},
    };
    std::uint64_t k = 0;
    for (auto& s : streams_) {
      s.rng.seed(o.seed * 1000003ULL + k++);
      s.next_spike = draw_gap(s);
    }
  }

  [[nodiscard]] const std::vector<synthetic_stream>& streams() const noexcept { return streams_; }

  // Samples of stream k owed `elapsed` seconds after the start (so a late wake-up catches up
  // instead of drifting), and the Unix time of the first of them given the start's.
  [[nodiscard]] std::size_t due(std::size_t k, double elapsed) const {
    const double owed = elapsed * o_.rate - static_cast<double>(streams_[k].index);
    return owed >= 1.0 ? static_cast<std::size_t>(std::floor(owed)) : 0;
  }
  [[nodiscard]] double time_of_next(std::size_t k, double start_unix) const {
    return start_unix + static_cast<double>(streams_[k].index) / o_.rate;
  }

  // The next n samples of stream k.
  void next(std::size_t k, std::size_t n, std::vector<double>& out) {
    synthetic_stream& s = streams_[k];
    out.clear();
    for (std::size_t i = 0; i < n; ++i) {
      out.push_back(sample(s));
      ++s.index;
    }
  }

 private:
  std::uint64_t draw_gap(synthetic_stream& s) {
    if (s.spike_every <= 0.0) {
      return UINT64_MAX;
    }
    std::exponential_distribution<double> gap(1.0 / s.spike_every);
    return s.index + 200 + static_cast<std::uint64_t>(gap(s.rng));
  }

  // A fresh distribution per draw: std::normal_distribution caches the second value of each pair,
  // and a cache shared by the streams would tie each stream's samples to the others'.
  static double normal(std::mt19937_64& rng) { return std::normal_distribution<double>(0.0, 1.0)(rng); }

  double sample(synthetic_stream& s) {
    const double t = static_cast<double>(s.index) / o_.rate;  // seconds since start, by sample count
    const double season = s.amplitude * std::sin(two_pi * (t / o_.day + s.phase_offset));
    s.ou += -s.ou_theta * s.ou + s.ou_sigma * normal(s.rng);
    double x = s.level + season + s.ou + s.noise * normal(s.rng);
    if (s.multiplicative) {
      x = std::exp(x);
    }
    // Level shift: "temperature" jumps by +6 for the middle third of every 3 days (a door left
    // open, a failed cooler), long enough for the detector's re-learn to absorb the new level.
    if (s.name == "temperature") {
      const double d = std::fmod(t / o_.day, 3.0);
      if (d >= 1.0 && d < 2.0) {
        x += 6.0;
      }
    }
    const bool scheduled =
        o_.anomaly_at >= 0 && s.name == "cpu" && s.index == static_cast<std::uint64_t>(o_.anomaly_at);
    if (scheduled || s.index == s.next_spike) {
      if (s.multiplicative) {
        x *= s.spike;
      } else {
        const double sign =
            (scheduled || s.spike < 0 || std::bernoulli_distribution(0.5)(s.rng)) ? 1.0 : -1.0;
        x += sign * s.spike;
      }
      if (s.index == s.next_spike) {
        s.next_spike = draw_gap(s);
      }
    }
    return x;
  }

  feed_options o_;
  std::vector<synthetic_stream> streams_;
};

}  // namespace demo
