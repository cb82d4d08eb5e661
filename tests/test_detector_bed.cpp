// The labelled test bed of the z-score detectors: eleven generators of messy series
// (support/anomaly_bed.hpp) — the seven of the first round and four failure modes of real series
// (flat with steps, a quantised counter, a square wave, heavy-tailed counts) — scored event by event.
// Tuning happened on the four tuning seeds (the printed table); the floors are asserted on 50
// held-out seeds that played no part in the tuning, set from their measured values minus about three
// binomial standard errors (the values and the counts are in the comments and the README).
#include <catch2/catch.hpp>

#include <streamstats/ew_variance.hpp>
#include <streamstats/rolling_variance.hpp>
#include <streamstats/variance.hpp>
#include <streamstats/zscore_detector.hpp>
#include <support/anomaly_bed.hpp>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

using streamstats::anomaly_detector;
using streamstats::ew_variance;
using streamstats::rolling_variance;
using streamstats::variance;
using streamstats::zscore_detector;
using namespace streamstats_test;

namespace {
constexpr std::uint64_t tuning_seeds[] = {1, 101, 202, 303};

// 50 seeds disjoint from the tuning ones (all_series(seed) uses seed .. seed + 10).
std::vector<std::uint64_t> held_out_seeds() {
  std::vector<std::uint64_t> out;
  for (std::uint64_t k = 0; k < 50; ++k) {
    out.push_back(100000 + 37 * k);
  }
  return out;
}

struct generator_result {
  std::string name;
  bed_metrics metrics;
};

// Metrics per generator, summed over the seeds, for a fresh copy of `proto` on every series.
template <class Detector, class Seeds>
std::vector<generator_result> run_bed(const Detector& proto, const Seeds& seeds) {
  std::vector<generator_result> out;
  for (std::uint64_t seed : seeds) {
    const auto series = all_series(seed);
    if (out.empty()) {
      for (const auto& s : series) {
        out.push_back({s.name, {}});
      }
    }
    for (std::size_t g = 0; g < series.size(); ++g) {
      out[g].metrics += evaluate(proto, series[g]);
    }
  }
  return out;
}

bed_metrics total(const std::vector<generator_result>& rows) {
  bed_metrics t;
  for (const auto& r : rows) {
    t += r.metrics;
  }
  return t;
}

void print_table(const char* baseline, const std::vector<generator_result>& rows) {
  std::printf("\n%s\n", baseline);
  std::printf("  %-15s %9s %9s %7s %8s %10s %14s\n", "generator", "precision", "recall", "delay", "windows",
              "episodes", "false/10k smp");
  for (const auto& r : rows) {
    const auto& m = r.metrics;
    std::printf("  %-15s %9.3f %9.3f %7.2f %8zu %10zu %14.2f\n", r.name.c_str(), m.precision(), m.recall(),
                m.mean_delay(), m.windows, m.episodes, m.false_rate());
  }
  const auto t = total(rows);
  std::printf("  %-15s %9.3f %9.3f %7.2f %8zu %10zu %14.2f\n", "ALL", t.precision(), t.recall(),
              t.mean_delay(), t.windows, t.episodes, t.false_rate());
}

const bed_metrics& by_name(const std::vector<generator_result>& rows, const std::string& name) {
  for (const auto& r : rows) {
    if (r.name == name) {
      return r.metrics;
    }
  }
  FAIL("no generator " << name);
  return rows.front().metrics;
}
}  // namespace

TEST_CASE("the generators are deterministic and labelled", "[bed]") {
  const auto a = all_series(7);
  const auto b = all_series(7);
  REQUIRE(a.size() == 11);
  for (std::size_t g = 0; g < a.size(); ++g) {
    CHECK(a[g].x == b[g].x);
    CHECK(a[g].x.size() == 6000);
    CHECK_FALSE(a[g].windows.empty());
    for (std::size_t w = 0; w < a[g].windows.size(); ++w) {
      CHECK(a[g].windows[w].begin >= 600);  // every baseline is warm before the first anomaly
      CHECK(a[g].windows[w].begin < a[g].windows[w].end);
      CHECK(a[g].windows[w].end <= a[g].x.size());
      if (w > 0) {
        CHECK(a[g].windows[w - 1].end <= a[g].windows[w].begin);  // sorted, disjoint
      }
    }
  }
  // The flat series are exactly constant between their jumps; the counter is integer.
  CHECK(a[4].x[0] == a[4].x[a[4].windows[0].begin - 1]);
  CHECK(a[7].x[0] == a[7].x[a[7].windows[0].begin - 1]);
  for (double v : a[8].x) {
    CHECK(v == static_cast<double>(static_cast<long long>(v)));
  }
  // The held-out seeds share no series with the tuning seeds.
  for (std::uint64_t h : held_out_seeds()) {
    for (std::uint64_t t : tuning_seeds) {
      CHECK((h > t + 10 || t > h + 10));
    }
  }
}

TEST_CASE("test bed: precision, recall and delay of each baseline (printed)", "[bed]") {
  std::printf(
      "\n=== z-score detector test bed: 11 generators x %zu tuning seeds x 6000 samples, default "
      "zscore_options "
      "(|z| > 4.5, warm-up 30, clipped learning, re-learn after 16, cool-down 10) ===\n"
      "precision = alert episodes opened inside a labelled window / all episodes; recall = windows "
      "with an alarm; delay = samples from window start to the first alarm\n",
      std::size(tuning_seeds));
  const streamstats::zscore_options o;
  const auto& seeds = tuning_seeds;
  const auto cumulative = run_bed(zscore_detector<variance<double>>(variance<double>{}, o), seeds);
  const auto rolling64 =
      run_bed(zscore_detector<rolling_variance<double, 64>>(rolling_variance<double, 64>{}, o), seeds);
  const auto recommended = run_bed(anomaly_detector<double>{}, seeds);
  const auto rolling200 =
      run_bed(zscore_detector<rolling_variance<double, 200>>(rolling_variance<double, 200>{}, o), seeds);
  const auto ew64 =
      run_bed(zscore_detector<ew_variance<double>>(ew_variance<double>::from_span(64.0), o), seeds);
  const auto ew40 =
      run_bed(zscore_detector<ew_variance<double>>(ew_variance<double>::from_span(40.0), o), seeds);
  print_table("cumulative: variance<double>", cumulative);
  print_table("rolling: zscore_detector<rolling_variance<double, 64>> (no rank veto)", rolling64);
  print_table("anomaly_detector<double> (recommended: rolling 64, resolution floor, rank veto)", recommended);
  print_table("rolling: rolling_variance<double, 200>", rolling200);
  print_table("exponential: ew_variance<double>::from_span(64) (same mean age as the 64-window)", ew64);
  print_table("exponential: ew_variance<double>::from_span(40)", ew40);
  std::printf("\n");

  // The bed discriminates: a cumulative baseline cannot follow a random walk or a daily cycle.
  CHECK(by_name(cumulative, "random_walk").recall() < 0.5);
  CHECK(by_name(cumulative, "seasonality").recall() < 0.5);
  CHECK(by_name(rolling64, "random_walk").recall() > by_name(cumulative, "random_walk").recall() + 0.4);
  // Every baseline catches the flat-line jumps at once (z = ±Inf against zero variance).
  for (const auto* rows : {&cumulative, &rolling64, &rolling200, &ew64, &ew40}) {
    CHECK(by_name(*rows, "flat_jump").recall() == 1.0);
    CHECK(by_name(*rows, "flat_jump").mean_delay() == 0.0);
  }
}

TEST_CASE("the recommended anomaly_detector meets its floors on 50 held-out seeds", "[bed]") {
  const auto rows = run_bed(anomaly_detector<double>{}, held_out_seeds());
  print_table("anomaly_detector<double> on the 50 held-out seeds", rows);
  struct floor_row {
    const char* name;
    double precision;
    double recall;
    double max_delay;
    double max_false_rate;  // false alert episodes per 10 000 samples
  };
  // Measured on the held-out seeds (value, counts) in the comments; floors ≈ measured − 3 standard
  // errors of a binomial proportion over those counts, false-rate ceilings ≈ measured + 3 Poisson
  // standard errors.
  const floor_row floors[] = {
      // name, precision, recall, delay, false/10k      measured: precision (counts) / recall (counts) / delay
      // / false
      {"spikes", 0.98, 0.99, 0.5, 0.6},          // 0.992 (999/1007) / 0.999 (999/1000) / 0.00 / 0.27
      {"level_shift", 0.92, 0.96, 0.5, 0.7},     // 0.961 (246/256) / 0.984 (246/250) / 0.07 / 0.33
      {"variance_burst", 0.93, 0.98, 2.9, 0.7},  // 0.966 (288/298) / 0.996 (249/250) / 1.29 / 0.33
      {"seasonality", 0.96, 0.65, 0.5, 0.9},     // 0.980 (698/712) / 0.698 (698/1000) / 0.00 / 0.47
      {"flat_jump", 0.98, 0.98, 0.5, 0.1},       // 1.000 (299/299) / 0.997 (299/300) / 0.01 / 0.00
      {"slow_drift", 0.98, 0.99, 0.5, 0.7},      // 0.990 (1000/1010) / 1.000 (1000/1000) / 0.00 / 0.33
      {"random_walk", 0.96, 0.94, 0.5, 1.1},     // 0.981 (962/981) / 0.962 (962/1000) / 0.00 / 0.63
      // The failure modes of real series. Flat steps: no flood after a step (0 false alerts); a step
      // of one unit after a 1-unit step elsewhere is below the resolution floor, hence recall 0.87.
      {"flat_steps", 0.99, 0.82, 0.5, 0.1},  // 1.000 (437/437) / 0.874 (437/500) / 0.04 / 0.00
      {"quantised", 0.97, 0.99, 0.5, 0.4},   // 0.990 (500/505) / 1.000 (500/500) / 0.00 / 0.17
      // Square wave: the edges still alarm (14.7 per 10⁴ samples, 68 without the rank veto) and the
      // +15 spikes, smaller than an edge, are not caught: a known limit (README).
      {"square_wave", 0.00, 0.00, 0.5, 16.8},  // 0.000 (0/441) / 0.000 (0/500) / 0.00 / 14.70
      // Heavy-tailed counts: 26.7 false alerts per 10⁴ samples (66 without the veto).
      {"heavy_tailed", 0.18, 0.98, 0.5, 29.5},  // 0.229 (237/1037) / 0.996 (249/250) / 0.04 / 26.67
  };
  bed_metrics original;  // the seven generators of the first round
  for (const auto& f : floors) {
    const auto& m = by_name(rows, f.name);
    INFO(f.name << ": precision " << m.precision() << " (" << m.true_episodes << "/" << m.episodes
                << "), recall " << m.recall() << " (" << m.detected << "/" << m.windows << "), delay "
                << m.mean_delay() << ", false/10k " << m.false_rate());
    CHECK(m.precision() >= f.precision);
    CHECK(m.recall() >= f.recall);
    CHECK(m.mean_delay() <= f.max_delay);
    CHECK(m.false_rate() <= f.max_false_rate);
  }
  for (const char* name :
       {"spikes", "level_shift", "variance_burst", "seasonality", "flat_jump", "slow_drift", "random_walk"}) {
    original += by_name(rows, name);
  }
  INFO("first seven generators: precision " << original.precision() << ", recall " << original.recall()
                                            << ", false/10k " << original.false_rate());
  CHECK(original.precision() >= 0.95);
  CHECK(original.recall() >= 0.90);
}

TEST_CASE("learning policy: a flagged spike does not hide the next one (clipped, not all)",
          "[bed][features]") {
  // Noise σ = 1 with pairs of spikes: 12σ, then 7σ 20 samples later. Learned as is (`all`), the 12σ
  // spike inflates the 64-sample σ to ≈ 1.8 and the 7σ one scores |z| ≈ 3.9: missed. Clipped at
  // mean ± 4.5σ it raises σ to ≈ 1.15 only: |z| ≈ 6, caught. Measured over 50 seeds × 18 pairs:
  // clipped 865/900 second spikes caught, `all` 105/900; floor 0.94 (≈ 3 standard errors below).
  std::size_t caught = 0;
  std::size_t pairs = 0;
  for (std::uint64_t seed : held_out_seeds()) {
    bed_rng rng(seed);
    anomaly_detector<double> d;
    for (std::size_t i = 0; i < 6000; ++i) {
      const std::size_t phase = i % 300;
      double x = rng.normal();
      if (i >= 600 && phase == 0) {
        x += 12.0;
      }
      const bool second = i >= 600 && phase == 20;
      if (second) {
        x += 7.0;
        ++pairs;
      }
      const auto r = d.push(x);
      caught += second && r.anomaly ? 1U : 0U;
    }
  }
  INFO(caught << " of " << pairs << " second spikes caught");
  CHECK(caught >= pairs * 94 / 100);
}

TEST_CASE("cool-down: one burst is one episode, two spikes 60 samples apart are two", "[bed][features]") {
  // Variance bursts (80 samples at σ = 6) cross the threshold on and off: with cooldown = 10 they
  // are about one episode each (measured 298 episodes for 250 bursts, some of them false alerts
  // elsewhere); with cooldown = 0 every return below the threshold splits them (706 for 250), and
  // `skip` learning, which never widens the baseline during a burst, gives 314. And two spikes 60
  // samples apart are two alerts: measured 404 episodes for 400 spikes; with cooldown = 100 they
  // merge (203 for 400).
  const auto bursts = run_bed(anomaly_detector<double>{}, held_out_seeds());
  const auto& vb = by_name(bursts, "variance_burst");
  INFO("variance bursts: " << vb.episodes << " episodes for " << vb.windows << " bursts");
  CHECK(static_cast<double>(vb.episodes) <= 1.25 * static_cast<double>(vb.windows));
  std::size_t episodes = 0;
  std::size_t spikes = 0;
  for (std::uint64_t seed : held_out_seeds()) {
    bed_rng rng(seed);
    anomaly_detector<double> d;
    for (std::size_t i = 0; i < 3000; ++i) {
      double x = rng.normal();
      if (i >= 600 && (i % 600 == 0 || i % 600 == 60)) {
        x += 10.0;
        ++spikes;
      }
      episodes += d.push(x).new_episode ? 1U : 0U;
    }
  }
  INFO(episodes << " episodes for " << spikes << " spikes");
  CHECK(episodes >= spikes * 95 / 100);
  CHECK(episodes <= spikes + spikes / 20);
}

TEST_CASE("warm-up: no alarm on the first 30 samples, however short the history", "[bed][features]") {
  // With warmup = 2 the σ of two or three samples is tiny and ordinary noise scores |z| ≫ 4.5:
  // measured 0 alarms in the first 30 samples of the 550 held-out series, and 214 with warmup = 2.
  std::size_t early = 0;
  std::size_t series = 0;
  for (std::uint64_t seed : held_out_seeds()) {
    for (const auto& s : all_series(seed)) {
      anomaly_detector<double> d;
      for (std::size_t i = 0; i < 30; ++i) {
        early += d.push(s.x[i]).anomaly ? 1U : 0U;
      }
      ++series;
    }
  }
  INFO(early << " alarms in the first 30 samples of " << series << " series");
  CHECK(early == 0);
}

TEST_CASE(
    "seasonal stage: with the period known or learned from timestamps, a cycle's edges stop alarming and a "
    "missing cycle does",
    "[bed][features]") {
  // The period (288 samples: a day of 5-minute data) given as seasonal_options::period, against the
  // same detector without it (the naive alternative), on the 50 held-out seeds.
  streamstats::seasonal_options daily;
  daily.period = 288;
  const anomaly_detector<double> seasonal(streamstats::zscore_options{}, streamstats::calibration_options{},
                                          daily);
  const anomaly_detector<double> plain{};
  // [2]: the default detector fed with timestamps 5 minutes apart, which learns the period itself.
  bed_metrics square[3];
  bed_metrics cycle[3];
  bed_metrics missing[3];
  for (std::uint64_t seed : held_out_seeds()) {
    const auto sq = square_wave(seed + 9);
    const auto cy = daily_seasonality(seed + 3);
    const auto mi = missing_cycle(seed + 11);
    square[0] += evaluate(plain, sq);
    square[1] += evaluate(seasonal, sq);
    square[2] += evaluate_timed(plain, sq, 300.0);
    cycle[0] += evaluate(plain, cy);
    cycle[1] += evaluate(seasonal, cy);
    cycle[2] += evaluate_timed(plain, cy, 300.0);
    missing[0] += evaluate(plain, mi);
    missing[1] += evaluate(seasonal, mi);
    missing[2] += evaluate_timed(plain, mi, 300.0);
  }
  const auto line = [](const char* what, const bed_metrics& m) {
    std::printf("  %-28s precision %.3f (%zu/%zu) recall %.3f (%zu/%zu) false/10k %.2f\n", what,
                m.precision(), m.true_episodes, m.episodes, m.recall(), m.detected, m.windows,
                m.false_rate());
  };
  std::printf("seasonal stage on the 50 held-out seeds (period 288 / none):\n");
  line("square_wave, timestamps", square[2]);
  line("seasonality, timestamps", cycle[2]);
  line("missing_cycle, timestamps", missing[2]);
  line("square_wave, period", square[1]);
  line("square_wave, none", square[0]);
  line("seasonality, period", cycle[1]);
  line("seasonality, none", cycle[0]);
  line("missing_cycle, period", missing[1]);
  line("missing_cycle, none", missing[0]);
  // Measured (50 held-out seeds), period / none:
  //   square_wave    recall 1.000 (500/500), false 5.00 / recall 0.000 (0/500), false 14.70 — the 3 false
  //                  alerts per series left are the edges of the first two days, before the profile is used;
  //   seasonality    recall 0.997 (997/1000), false 0.20 / recall 0.698 (698/1000), false 0.47;
  //   missing_cycle  recall 1.000 (150/150), false 8.37 / recall 0.000 (0/150), false 33.60.
  // Floors: measured − 3 binomial standard errors (recall), ceilings + 3 Poisson ones (false rate).
  CHECK(square[1].recall() >= 0.98);
  CHECK(square[1].false_rate() <= 6.3);
  CHECK(cycle[1].recall() >= 0.98);
  CHECK(cycle[1].false_rate() <= 0.6);
  CHECK(missing[1].recall() >= 0.95);
  CHECK(missing[1].false_rate() <= 10.0);
  // With timestamps instead of the period (measured: square_wave recall 0.994 (497/500), false 6.67;
  // seasonality 0.990 (990/1000), 0.20; missing_cycle 1.000 (150/150), 8.37 — the stage starts 33
  // samples later, after the pace is known, so a few more early edges alarm). Same floor rule.
  CHECK(square[2].recall() >= 0.98);
  CHECK(square[2].false_rate() <= 8.1);
  CHECK(cycle[2].recall() >= 0.98);
  CHECK(cycle[2].false_rate() <= 0.45);
  CHECK(missing[2].recall() >= 0.95);
  CHECK(missing[2].false_rate() <= 10.0);
  // Without the period the same detector cannot pass them (the naive alternative, asserted).
  CHECK(square[0].recall() < 0.5);
  CHECK(missing[0].recall() < 0.5);
  CHECK(missing[0].false_rate() > 2.0 * missing[1].false_rate());
}

TEST_CASE("score: one report per excursion above 0.61, its repeats ranked below", "[bed][features]") {
  // A level shift of 8σ on N(0, 1) noise: |z| stays rare (p ≤ 0.03) on about ten samples while the
  // baseline re-learns. score() ranks the ones after the first (and any rarer) as repeats, below
  // 0.602: above 0.61 it reports the first of them only, at 0.5 it still counts them all (calibration).
  // quiet = 0 (the naive alternative, no thinning) scores every one above 0.61.
  const auto run = [](std::size_t quiet, std::size_t& above, std::size_t& rare, std::size_t& reports) {
    streamstats::calibration_options c;
    c.quiet = quiet;
    anomaly_detector<double> d(streamstats::zscore_options{}, c);
    bed_rng rng(77);
    above = rare = reports = 0;
    for (std::size_t i = 0; i < 3000; ++i) {
      const auto r = d.push(rng.normal() + (i >= 2000 ? 8.0 : 0.0));
      if (i >= 2000 && i < 2100) {
        above += r.score() >= 0.61 ? 1U : 0U;
        rare += r.score() >= 0.5 ? 1U : 0U;
        reports += r.report_score() >= 0.61 ? 1U : 0U;
      }
    }
  };
  std::size_t above = 0;
  std::size_t rare = 0;
  std::size_t reports = 0;
  run(30, above, rare, reports);
  INFO("quiet 30: " << above << " scores >= 0.61, " << rare << " >= 0.5, " << reports << " reports");
  CHECK(above >= 1);
  CHECK(above <= 2);
  CHECK(reports == above);
  CHECK(rare >= 5);
  run(0, above, rare, reports);
  INFO("quiet 0: " << above << " scores >= 0.61, " << rare << " >= 0.5");
  CHECK(above >= 5);
  CHECK(reports == above);
}
