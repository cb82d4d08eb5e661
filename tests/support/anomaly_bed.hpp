// Labelled synthetic series for the anomaly-detector test bed (tests/test_detector_bed.cpp).
// Every generator is seeded and portable: std::mt19937_64's output is fixed by the standard, and the
// Gaussian noise is our own Box–Muller on it (std::normal_distribution differs between libraries).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace streamstats_test {

// Samples [begin, end) are anomalous; an alarm anywhere inside detects the anomaly. `end` includes
// the tolerance a user would accept (a level shift may be caught a few samples late).
struct anomaly_window {
  std::size_t begin;
  std::size_t end;
};

struct labelled_series {
  std::string name;
  std::vector<double> x;
  std::vector<anomaly_window> windows;
};

class bed_rng {
 public:
  explicit bed_rng(std::uint64_t seed) : engine_(seed) {}

  // Uniform in (0, 1): 53 random bits, never 0 (the log below needs that).
  double uniform() { return (static_cast<double>(engine_() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }
  // Box–Muller (one of the pair is discarded: simplicity over speed).
  double normal() {
    const double u1 = uniform();
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  // Integer in [lo, hi].
  std::size_t between(std::size_t lo, std::size_t hi) {
    return lo + static_cast<std::size_t>(uniform() * static_cast<double>(hi - lo + 1));
  }
  double sign() { return uniform() < 0.5 ? -1.0 : 1.0; }

 private:
  std::mt19937_64 engine_;
};

namespace bed_detail {
constexpr std::size_t length = 6000;
constexpr std::size_t lead_in = 600;  // anomaly-free start: every baseline is warm before the first

// `count` positions in [lead_in, length − margin), at least `gap` apart, in increasing order.
inline std::vector<std::size_t> positions(bed_rng& rng, std::size_t count, std::size_t gap,
                                          std::size_t margin) {
  std::vector<std::size_t> at;
  const std::size_t span = (length - margin - lead_in) / count;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t lo = lead_in + i * span;
    const std::size_t hi = lo + (span > gap ? span - gap : 1) - 1;
    at.push_back(rng.between(lo, hi));
  }
  return at;
}

inline std::vector<double> noise(bed_rng& rng, double sigma) {
  std::vector<double> x(length);
  for (auto& v : x) {
    v = sigma * rng.normal();
  }
  return x;
}

// Isolated spikes of 7σ to 12σ (random sign) of the local noise; each window is the spike alone.
inline void add_spikes(bed_rng& rng, labelled_series& s, std::size_t count, double sigma) {
  for (std::size_t at : positions(rng, count, 150, 50)) {
    s.x[at] += rng.sign() * sigma * (7.0 + 5.0 * rng.uniform());
    s.windows.push_back({at, at + 1});
  }
}
}  // namespace bed_detail

// Gaussian noise (σ = 1, mean 10) with 20 isolated spikes of 7σ–12σ.
inline labelled_series spikes(std::uint64_t seed) {
  bed_rng rng(seed);
  labelled_series s{"spikes", bed_detail::noise(rng, 1.0), {}};
  for (auto& v : s.x) {
    v += 10.0;
  }
  bed_detail::add_spikes(rng, s, 20, 1.0);
  return s;
}

// Noise σ = 1 with 5 lasting level shifts of 5σ–8σ (random sign); detection within 30 samples counts.
// Alarms after that are false: the new level must become the norm.
inline labelled_series level_shifts(std::uint64_t seed) {
  bed_rng rng(seed);
  labelled_series s{"level_shift", bed_detail::noise(rng, 1.0), {}};
  double level = 0.0;
  std::size_t next = 0;
  const auto at = bed_detail::positions(rng, 5, 600, 200);
  for (std::size_t i = 0; i < s.x.size(); ++i) {
    if (next < at.size() && i == at[next]) {
      level += rng.sign() * (5.0 + 3.0 * rng.uniform());
      s.windows.push_back({i, i + 30});
      ++next;
    }
    s.x[i] += level;
  }
  return s;
}

// Noise σ = 1 with 5 bursts of 80 samples where σ = 6: the whole burst is the anomaly.
inline labelled_series variance_bursts(std::uint64_t seed) {
  bed_rng rng(seed);
  labelled_series s{"variance_burst", bed_detail::noise(rng, 1.0), {}};
  for (std::size_t at : bed_detail::positions(rng, 5, 400, 200)) {
    for (std::size_t i = at; i < at + 80; ++i) {
      s.x[i] *= 6.0;
    }
    s.windows.push_back({at, at + 80});
  }
  return s;
}

// A daily cycle (period 288 samples, i.e. 5-minute data; amplitude 5σ) on noise σ = 1, with 20 spikes
// of 7σ–12σ of the noise: small against the cycle, large against the local level.
inline labelled_series daily_seasonality(std::uint64_t seed) {
  bed_rng rng(seed);
  labelled_series s{"seasonality", bed_detail::noise(rng, 1.0), {}};
  for (std::size_t i = 0; i < s.x.size(); ++i) {
    s.x[i] += 50.0 + 5.0 * std::sin(6.283185307179586 * static_cast<double>(i) / 288.0);
  }
  bed_detail::add_spikes(rng, s, 20, 1.0);
  return s;
}

// A quantised sensor: exactly constant, then 6 jumps (±0.5 to ±3 units, random sign) to a new
// constant; detection within 10 samples counts. Zero variance everywhere.
inline labelled_series flat_then_jump(std::uint64_t seed) {
  bed_rng rng(seed);
  labelled_series s{"flat_jump", std::vector<double>(bed_detail::length), {}};
  double level = 20.0;
  std::size_t next = 0;
  const auto at = bed_detail::positions(rng, 6, 500, 200);
  for (std::size_t i = 0; i < s.x.size(); ++i) {
    if (next < at.size() && i == at[next]) {
      level += rng.sign() * 0.5 * static_cast<double>(rng.between(1, 6));
      s.windows.push_back({i, i + 10});
      ++next;
    }
    s.x[i] = level;
  }
  return s;
}

// Noise σ = 1 whose mean drifts by 12σ over the series (normal behaviour: never labelled), with 20
// spikes of 7σ–12σ.
inline labelled_series slow_drift(std::uint64_t seed) {
  bed_rng rng(seed);
  labelled_series s{"slow_drift", bed_detail::noise(rng, 1.0), {}};
  for (std::size_t i = 0; i < s.x.size(); ++i) {
    s.x[i] += 12.0 * static_cast<double>(i) / static_cast<double>(s.x.size());
  }
  bed_detail::add_spikes(rng, s, 20, 1.0);
  return s;
}

// A random walk (steps σ = 0.2) plus measurement noise σ = 1, with 20 spikes of 7σ–12σ of the noise.
// The walk is normal behaviour; a cumulative mean cannot follow it.
inline labelled_series random_walk(std::uint64_t seed) {
  bed_rng rng(seed);
  labelled_series s{"random_walk", bed_detail::noise(rng, 1.0), {}};
  double level = 0.0;
  for (auto& v : s.x) {
    level += 0.2 * rng.normal();
    v += level;
  }
  bed_detail::add_spikes(rng, s, 20, 1.0);
  return s;
}

// The failure modes of real series (issue 10): flat stretches, quantised values, square waves and
// heavy tails, each with labelled anomalies a user wants and a background that must not alarm.

// Exactly flat, with 10 steps of 1–4 integer units (random sign) that then hold: each step is an
// anomaly (detection within 10 samples counts); any alarm after that is a flood.
inline labelled_series flat_with_steps(std::uint64_t seed) {
  bed_rng rng(seed);
  labelled_series s{"flat_steps", std::vector<double>(bed_detail::length), {}};
  double level = 100.0;
  std::size_t next = 0;
  const auto at = bed_detail::positions(rng, 10, 300, 200);
  for (std::size_t i = 0; i < s.x.size(); ++i) {
    if (next < at.size() && i == at[next]) {
      level += rng.sign() * static_cast<double>(rng.between(1, 4));
      s.windows.push_back({i, i + 10});
      ++next;
    }
    s.x[i] = level;
  }
  return s;
}

// An integer counter at rest: N(50, 0.3²) rounded (mostly 50, a 49 or 51 one sample in ten), with
// 10 spikes of ±4 to ±8 units (13σ–27σ of the unrounded noise).
inline labelled_series quantised_counter(std::uint64_t seed) {
  bed_rng rng(seed);
  labelled_series s{"quantised", bed_detail::noise(rng, 0.3), {}};
  for (auto& v : s.x) {
    v = std::round(50.0 + v);
  }
  for (std::size_t at : bed_detail::positions(rng, 10, 300, 50)) {
    s.x[at] += rng.sign() * static_cast<double>(rng.between(4, 8));
    s.windows.push_back({at, at + 1});
  }
  return s;
}

// A square wave, 20 and 80 alternating every 144 samples (half a day of 5-minute data), no noise:
// its edges are normal. 10 spikes of +15 on the flat parts are the anomalies.
inline labelled_series square_wave(std::uint64_t seed) {
  bed_rng rng(seed);
  labelled_series s{"square_wave", std::vector<double>(bed_detail::length), {}};
  for (std::size_t i = 0; i < s.x.size(); ++i) {
    s.x[i] = (i / 144) % 2 == 0 ? 20.0 : 80.0;
  }
  for (std::size_t at : bed_detail::positions(rng, 10, 300, 50)) {
    const std::size_t phase = at % 144;
    const std::size_t p = phase < 20 ? at + 20 : (phase > 124 ? at - 20 : at);  // away from an edge
    s.x[p] += 15.0;
    s.windows.push_back({p, p + 1});
  }
  return s;
}

// Heavy-tailed counts: round(exp(3 + 0.6·Z)) (lognormal, median 20, a 1-in-1000 sample above 130):
// |z| > 4.5 is routine. The anomalies are 5 bursts of 20 samples at 10× the median.
inline labelled_series heavy_tailed_counts(std::uint64_t seed) {
  bed_rng rng(seed);
  labelled_series s{"heavy_tailed", bed_detail::noise(rng, 0.6), {}};
  for (auto& v : s.x) {
    v = std::round(std::exp(3.0 + v));
  }
  for (std::size_t at : bed_detail::positions(rng, 5, 400, 200)) {
    for (std::size_t i = at; i < at + 20; ++i) {
      s.x[i] = std::round(200.0 * std::exp(0.3 * rng.normal()));
    }
    s.windows.push_back({at, at + 20});
  }
  return s;
}

// A daily working-hours pulse (period 288: +8σ from sample 96 to 215 of each day) on noise σ = 1 around
// 10. On 3 days (the 4th to the 19th, at least 4 apart) the pulse does not come: the anomaly is its
// absence, detected within 30 samples of the missing rise. Not in all_series(): a test of the
// seasonal stage (seasonal_options::period), which no detector without the period can pass.
inline labelled_series missing_cycle(std::uint64_t seed) {
  constexpr std::size_t period = 288;
  bed_rng rng(seed);
  labelled_series s{"missing_cycle", bed_detail::noise(rng, 1.0), {}};
  std::vector<std::size_t> skipped;
  for (std::size_t k = 0; k < 3; ++k) {
    skipped.push_back(4 + 5 * k + rng.between(0, 1));  // days 4–5, 9–10, 14–15
  }
  for (std::size_t i = 0; i < s.x.size(); ++i) {
    const std::size_t day = i / period;
    const std::size_t phase = i % period;
    const bool skip = day == skipped[0] || day == skipped[1] || day == skipped[2];
    s.x[i] += 10.0 + (phase >= 96 && phase < 216 && !skip ? 8.0 : 0.0);
  }
  for (std::size_t day : skipped) {
    s.windows.push_back({day * period + 96, day * period + 96 + 30});
  }
  return s;
}

// Every generator, for one seed.
inline std::vector<labelled_series> all_series(std::uint64_t seed) {
  return {spikes(seed),
          level_shifts(seed + 1),
          variance_bursts(seed + 2),
          daily_seasonality(seed + 3),
          flat_then_jump(seed + 4),
          slow_drift(seed + 5),
          random_walk(seed + 6),
          flat_with_steps(seed + 7),
          quantised_counter(seed + 8),
          square_wave(seed + 9),
          heavy_tailed_counts(seed + 10)};
}

// Event-level scores of one run.
struct bed_metrics {
  std::size_t windows = 0;        // labelled anomalies
  std::size_t detected = 0;       // windows with at least one alarm inside
  std::size_t episodes = 0;       // alert episodes opened (new_episode)
  std::size_t true_episodes = 0;  // episodes that opened inside a window
  double delay_sum = 0.0;         // Σ (first alarm − window begin) over detected windows
  std::size_t samples = 0;

  [[nodiscard]] double recall() const {
    return windows == 0 ? 1.0 : static_cast<double>(detected) / static_cast<double>(windows);
  }
  [[nodiscard]] double precision() const {
    return episodes == 0 ? 1.0 : static_cast<double>(true_episodes) / static_cast<double>(episodes);
  }
  [[nodiscard]] double mean_delay() const {
    return detected == 0 ? 0.0 : delay_sum / static_cast<double>(detected);
  }
  // False alert episodes per 10 000 samples.
  [[nodiscard]] double false_rate() const {
    return samples == 0 ? 0.0
                        : 1e4 * static_cast<double>(episodes - true_episodes) / static_cast<double>(samples);
  }
  bed_metrics& operator+=(const bed_metrics& o) {
    windows += o.windows;
    detected += o.detected;
    episodes += o.episodes;
    true_episodes += o.true_episodes;
    delay_sum += o.delay_sum;
    samples += o.samples;
    return *this;
  }
};

// Runs a fresh copy of `detector` over the series and scores its alarms against the labels.
template <class Detector>
bed_metrics evaluate(Detector detector, const labelled_series& s) {
  bed_metrics m;
  m.windows = s.windows.size();
  m.samples = s.x.size();
  std::vector<long long> first_alarm(s.windows.size(), -1);
  std::size_t w = 0;  // windows are sorted and disjoint
  for (std::size_t i = 0; i < s.x.size(); ++i) {
    const auto r = detector.push(s.x[i]);
    while (w < s.windows.size() && s.windows[w].end <= i) {
      ++w;
    }
    const bool inside = w < s.windows.size() && s.windows[w].begin <= i;
    if (r.new_episode) {
      ++m.episodes;
      m.true_episodes += inside ? 1U : 0U;
    }
    if (r.anomaly && inside && first_alarm[w] < 0) {
      first_alarm[w] = static_cast<long long>(i);
      ++m.detected;
      m.delay_sum += static_cast<double>(i - s.windows[w].begin);
    }
  }
  return m;
}

}  // namespace streamstats_test
