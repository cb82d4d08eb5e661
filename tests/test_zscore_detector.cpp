#include <catch2/catch.hpp>

#include <support/anomaly_bed.hpp>
#include <support/tail_reference.hpp>

#include <streamstats/rolling_variance.hpp>
#include <streamstats/score_rank.hpp>
#include <streamstats/variance.hpp>
#include <streamstats/zscore_detector.hpp>

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <type_traits>
#include <vector>

using streamstats::anomaly_score;
using streamstats::variance;
using streamstats::zscore_detector;
using streamstats::zscore_learning;
using streamstats::zscore_options;
using streamstats::zscore_side;
using streamstats::zscore_status;

using streamstats_test::chi2_rows;
using streamstats_test::normal_row;
using streamstats_test::normal_rows;
using streamstats_test::tail_row;

namespace {

constexpr double nan_v = std::numeric_limits<double>::quiet_NaN();
constexpr double inf_v = std::numeric_limits<double>::infinity();

// Score of a two-sided z, through a detector's public path (baseline mean 0, sd 1).
double two_sided_score(double z) { return anomaly_score(streamstats::detail::log_chi2_upper_tail(1, z * z)); }

// ∫₀^p (1 − v)^n dv by composite Simpson over 4000 intervals: the probability, for independent
// uniform p, of a sample below p with no p as small among the previous n — computed here without the
// closed form the detector uses.
double first_report_probability(double p, int n) {
  const int m = 4000;
  const double h = p / m;
  double sum = 1.0 + std::pow(1.0 - p, n);
  for (int i = 1; i < m; ++i) {
    sum += (i % 2 == 1 ? 4.0 : 2.0) * std::pow(1.0 - i * h, n);
  }
  return sum * h / 3.0;
}
}  // namespace

TEST_CASE("chi-square log tail matches mpmath to 1e-13 relative, near p = 1 and far beyond underflow",
          "[detector][tail]") {
  // ln Q from ≈ −2.6e-14 (k = 10, x = 0.01: Q ≈ 1, where ln Q = −h + ln Σ would cancel) to −5e5.
  for (const auto& r : chi2_rows) {
    INFO("k = " << r.k << ", x = " << r.x);
    const double got = streamstats::detail::log_chi2_upper_tail(r.k, r.x);
    CHECK(got == Approx(r.log_sf).epsilon(1e-13));
  }
}

TEST_CASE("Gaussian log tail matches mpmath to 1e-13 relative from z = -30 to z = 1000", "[detector][tail]") {
  for (const auto& r : normal_rows) {
    INFO("z = " << r.z);
    CHECK(streamstats::detail::log_normal_upper_tail(r.z) == Approx(r.log_sf).epsilon(1e-13));
    // float is computed in double internally, so it does not underflow at |z| ≈ 14.
    CHECK(static_cast<double>(streamstats::detail::log_normal_upper_tail(static_cast<float>(r.z))) ==
          Approx(r.log_sf).epsilon(1e-6).margin(1e-6));
  }
}

TEST_CASE("the score is strictly increasing and below 1 far into the tail", "[detector][score]") {
  // 1 − erfc(|z|/√2) is exactly 1.0 in double from |z| ≈ 8.3: the score must not be.
  CHECK(1.0 - std::erfc(9.0 / std::sqrt(2.0)) == 1.0);
  const double zs[] = {0.0,  0.5,  1.0,  2.0,  3.0,  4.0,   6.0, 8.0, 9.0, 12.0,
                       20.0, 37.0, 38.0, 39.0, 40.0, 100.0, 1e3, 1e4, 1e6};
  double previous = -1.0;
  for (double z : zs) {
    const double s = two_sided_score(z);
    INFO("z = " << z << ", score = " << s);
    CHECK(s >= 0.0);
    CHECK(s < 1.0);
    CHECK(s > previous);
    CHECK(two_sided_score(-z) == s);
    previous = s;
  }
  CHECK(two_sided_score(0.0) == 0.0);
  CHECK(two_sided_score(inf_v) == 1.0);
  CHECK(two_sided_score(nan_v) == 0.0);
  // q = −log10 erfc(|z|/√2), score = q / (1 + q), computed with mpmath at 40 digits.
  CHECK(two_sided_score(3.0) == Approx(0.719783485463).epsilon(1e-11));
  CHECK(two_sided_score(4.0) == Approx(0.807629599081).epsilon(1e-11));
  CHECK(two_sided_score(9.0) == Approx(0.949100178759).epsilon(1e-11));
  CHECK(two_sided_score(40.0) == Approx(0.997143966724).epsilon(1e-11));
  CHECK(two_sided_score(1e3) == Approx(0.999995394917).epsilon(1e-11));
  // The inverse map gives back p: z = 3 two-sided is p = 0.0026998.
  CHECK(streamstats::score_to_p_value(two_sided_score(3.0)) == Approx(0.0026997960632601866).epsilon(1e-10));
}

TEST_CASE("the detector scores before learning and flags a spike beyond the threshold", "[detector]") {
  zscore_detector<variance<double>> d(variance<double>{}, zscore_options{});
  // Alternating ±1 has mean 0 and sample sd → 1; warm-up is 30 samples, all learned, none flagged.
  for (int i = 0; i < 30; ++i) {
    const auto r = d.push(i % 2 == 0 ? 1.0 : -1.0);
    CHECK(r.status == zscore_status::warming_up);
    CHECK_FALSE(r.anomaly);
  }
  const double sd = d.baseline().stddev();  // sqrt(30/29)
  CHECK(sd == Approx(std::sqrt(30.0 / 29.0)).epsilon(1e-14));
  const auto r = d.push(10.0);
  CHECK(r.status == zscore_status::scored);
  CHECK(r.z == Approx(10.0 / sd).epsilon(1e-14));  // the spike was not in the baseline yet
  CHECK(r.anomaly);
  CHECK(r.new_episode);
  CHECK(r.episode == 1);
  CHECK(r.score() == Approx(two_sided_score(10.0 / sd)).epsilon(1e-14));
  // Clipped learning: the spike entered the baseline as mean + threshold·sd (mean 0), not as 10.
  CHECK(d.baseline().count() == 31);
  CHECK(d.baseline().mean() == Approx(d.options().threshold * sd / 31.0).epsilon(1e-12));
  CHECK(d.anomalies() == 1);
}

TEST_CASE("a spike does not drag a skip-learning baseline", "[detector]") {
  zscore_options o;
  o.learning = zscore_learning::skip;
  zscore_detector<variance<double>> d(variance<double>{}, o);
  for (int i = 0; i < 100; ++i) {
    (void)d.push(i % 2 == 0 ? 1.0 : -1.0);
  }
  const double mean_before = d.baseline().mean();
  const auto r = d.push(1e6);
  CHECK(r.anomaly);
  CHECK(d.baseline().mean() == mean_before);
  CHECK(d.baseline().count() == 100);
}

TEST_CASE("a constant series then a change flags it with z = ±Inf, and equal values score 0",
          "[detector][edge]") {
  zscore_detector<variance<double>> d{variance<double>{}};
  for (int i = 0; i < 50; ++i) {
    const auto r = d.push(0.1);
    CHECK_FALSE(r.anomaly);
    if (i >= 30) {
      CHECK(r.z == 0.0);
      CHECK(r.score() == 0.0);
    }
  }
  const auto up = d.push(0.1000001);
  CHECK(up.z == inf_v);  // no change seen yet: the resolution is unknown
  CHECK(up.score() == 1.0);
  CHECK(up.anomaly);
  // Now the resolution is 1e-7 (that step), so σ is floored there: the next move is finite.
  CHECK(d.resolution() == Approx(1e-7).epsilon(1e-6));
  const auto down = d.push(0.0);
  CHECK(std::isfinite(down.z));
  CHECK(down.z < -1e5);
  CHECK(down.anomaly);
  CHECK_FALSE(down.new_episode);  // same episode (cool-down not over)
}

TEST_CASE("min_stddev floors sigma on a near-constant series", "[detector][edge]") {
  zscore_options o;
  o.min_stddev = 0.01;
  o.resolution_floor = 0.0;  // min_stddev alone (the 0.02 step would raise the floor to 0.01 too)
  zscore_detector<variance<double>> d(variance<double>{}, o);
  for (int i = 0; i < 50; ++i) {
    (void)d.push(5.0);
  }
  const auto small = d.push(5.02);  // z = 2 with the floor
  CHECK(small.z == Approx(2.0).epsilon(1e-9));
  CHECK_FALSE(small.anomaly);
  CHECK(d.push(5.05).anomaly);  // z = 5
}

TEST_CASE("non-finite samples are rejected, counted, and never reach the baseline", "[detector][edge]") {
  zscore_detector<variance<double>> d{variance<double>{}};
  for (int i = 0; i < 40; ++i) {
    (void)d.push(i % 2 == 0 ? 1.0 : -1.0);
  }
  for (double bad : {nan_v, inf_v, -inf_v}) {
    const auto r = d.push(bad);
    CHECK(r.status == zscore_status::rejected);
    CHECK_FALSE(r.anomaly);
    CHECK(std::isnan(r.z));
    CHECK(r.score() == 0.0);
  }
  CHECK(d.rejected() == 3);
  CHECK(d.count() == 40);
  CHECK(d.baseline().count() == 40);
  CHECK(std::isfinite(d.baseline().mean()));
  // No side effects inside an assertion: the operands' evaluation order is unspecified (this line
  // once pushed and read the stddev in one CHECK, passing with g++ and failing with clang++).
  const double sd = d.baseline().stddev();
  const double mean = d.baseline().mean();
  const auto r = d.push(0.5);
  CHECK(r.z == Approx((0.5 - mean) / sd).epsilon(1e-12));
}

TEST_CASE("no alarm during warm-up, however large the deviation", "[detector][edge]") {
  zscore_options o;
  o.warmup = 10;
  zscore_detector<variance<double>> d(variance<double>{}, o);
  for (int i = 0; i < 9; ++i) {
    (void)d.push(static_cast<double>(i % 2));
  }
  const auto r = d.push(1e9);
  CHECK(r.status == zscore_status::warming_up);
  CHECK_FALSE(r.anomaly);
  CHECK(r.z > 1e8);  // scored for information, not flagged
}

TEST_CASE("one-sided detectors ignore the other side and score its tail", "[detector]") {
  zscore_options o;
  o.side = zscore_side::upper;
  zscore_detector<variance<double>> d(variance<double>{}, o);
  for (int i = 0; i < 60; ++i) {
    (void)d.push(i % 2 == 0 ? 1.0 : -1.0);
  }
  const auto low = d.push(-20.0);
  CHECK_FALSE(low.anomaly);
  CHECK(low.score() < 0.01);  // P(Z > −19.7) ≈ 1
  const auto high = d.push(20.0);
  CHECK(high.anomaly);
  CHECK(high.score() == Approx(anomaly_score(streamstats::detail::log_normal_upper_tail(high.z))));
}

TEST_CASE("a lasting level shift is one episode, re-learnt, and alarms stop", "[detector][shift]") {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> noise(0.0, 1.0);
  zscore_options o;
  o.learning = zscore_learning::skip;  // only the re-learn can absorb the shift
  zscore_detector<variance<double>> d(variance<double>{}, o);
  for (int i = 0; i < 500; ++i) {
    (void)d.push(noise(rng));
  }
  const std::size_t anomalies_before = d.anomalies();
  std::size_t last_alarm = 0;
  std::size_t new_episodes = 0;
  for (std::size_t i = 0; i < 1000; ++i) {
    const auto r = d.push(20.0 + noise(rng));
    if (r.anomaly) {
      last_alarm = i;
    }
    new_episodes += r.new_episode ? 1U : 0U;
  }
  CHECK(d.anomalies() - anomalies_before == o.relearn_after);  // flagged until the re-learn
  CHECK(last_alarm == o.relearn_after - 1);
  CHECK(new_episodes == 1);
  CHECK(d.relearns() == 1);
  CHECK(d.baseline().mean() == Approx(20.0).margin(0.2));
}

TEST_CASE("a variance burst keeps flagging on both sides without re-learning", "[detector][shift]") {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> noise(0.0, 1.0);
  zscore_detector<variance<double>> d{variance<double>{}};
  for (int i = 0; i < 1000; ++i) {
    (void)d.push(noise(rng));
  }
  std::size_t flagged = 0;
  for (int i = 0; i < 200; ++i) {
    flagged += d.push(10.0 * noise(rng)).anomaly ? 1U : 0U;
  }
  CHECK(flagged > 40);  // P(|10·Z| > ~4) ≈ 0.69, less the clipped widening of the baseline
  CHECK(d.relearns() == 0);
}

TEST_CASE("reset clears the state and keeps the options", "[detector]") {
  zscore_options o;
  o.threshold = 3.0;
  zscore_detector<variance<double>> d(variance<double>{}, o);
  for (int i = 0; i < 50; ++i) {
    (void)d.push(i % 2 == 0 ? 1.0 : -1.0);
  }
  (void)d.push(100.0);
  (void)d.push(nan_v);
  d.reset();
  CHECK(d.count() == 0);
  CHECK(d.rejected() == 0);
  CHECK(d.anomalies() == 0);
  CHECK(d.episodes() == 0);
  CHECK(d.baseline().count() == 0);
  CHECK(d.options().threshold == 3.0);
  CHECK(d.push(1.0).status == zscore_status::warming_up);
}

TEST_CASE("the detector works on float samples", "[detector]") {
  zscore_detector<variance<float>> d{variance<float>{}};
  for (int i = 0; i < 40; ++i) {
    (void)d.push(i % 2 == 0 ? 1.0F : -1.0F);
  }
  const auto r = d.push(40.0F);
  CHECK(r.anomaly);
  CHECK(r.score() > 0.99F);
  CHECK(r.score() < 1.0F);
}

TEST_CASE("anomaly_detector is default-constructible, uses the rolling 64-sample baseline and defaults",
          "[detector]") {
  streamstats::anomaly_detector<double> plain;
  STATIC_REQUIRE(std::is_same_v<streamstats::anomaly_detector<double>::baseline_type,
                                streamstats::rolling_variance<double, 64>>);
  CHECK(plain.options().threshold == 4.5);
  CHECK(plain.options().warmup == 30);
  CHECK(plain.calibration().learning == 200);
  CHECK(plain.calibration().alert_p == 0.01);
  // The 200-sample window: after 300 samples of ±1 it holds the last 200, sd = sqrt(200/199).
  streamstats::anomaly_detector<double, 200> d;
  for (int i = 0; i < 300; ++i) {
    (void)d.push(i % 2 == 0 ? 1.0 : -1.0);
  }
  const double sd = std::sqrt(200.0 / 199.0);
  CHECK(d.baseline().stddev() == Approx(sd).epsilon(1e-12));
  const auto r = d.push(5.0);
  CHECK(r.z == Approx(5.0 / sd).epsilon(1e-12));
  // |z| ≈ 5 was never seen (every earlier |z| is ≈ 1): p is the smallest there is, 1 / n_eff with
  // n_eff = (1 − d^299)/(1 − d) ≈ 226 effective samples (d = 1 − 2/1001); p · n_eff / 500.5 is
  // below alert_p (0.01): the veto lets it through.
  CHECK(r.anomaly);
  CHECK(r.new_episode);
  CHECK(r.p == Approx(1.0 / 226.0).epsilon(0.01));
  // Beyond every recent |z|, score() keeps grading: by p_graded, below p's floor.
  CHECK(r.p_graded < r.p);
  CHECK(!r.repeat);
  CHECK(r.score() ==
        Approx(anomaly_score(std::log(first_report_probability(r.p_graded, 30)))).epsilon(1e-12));
  CHECK(r.score() > anomaly_score(std::log(r.p)));
  streamstats::zscore_options o;
  o.threshold = 6.0;
  const streamstats::anomaly_detector<float> custom(o);
  CHECK(custom.options().threshold == 6.0);
}

TEST_CASE("anomaly_detector stops alarming on what recurs: the rank's veto", "[detector][calibration]") {
  // ±1 with a spike of 8 every 25 samples (4% of samples): |z| ≈ 7 each time, beyond the threshold,
  // but after the first few it is not "rarer than 1 in 100" on this series. Over the last 1000
  // samples zscore_detector flags all 40 spikes; anomaly_detector none, and with alert_p = 1 (no
  // veto) all 40 again.
  streamstats::anomaly_detector<double> d;
  streamstats::calibration_options off;
  off.alert_p = 1.0;
  streamstats::anomaly_detector<double> no_veto(zscore_options{}, off);
  std::size_t late = 0;
  std::size_t late_z = 0;
  std::size_t late_no_veto = 0;
  for (int i = 0; i < 2000; ++i) {
    const double x = i % 25 == 24 ? 8.0 : (i % 2 == 0 ? 1.0 : -1.0);
    const auto r = d.push(x);
    const auto n = no_veto.push(x);
    if (i >= 1000) {
      late += r.anomaly ? 1U : 0U;
      late_no_veto += n.anomaly ? 1U : 0U;
    }
    if (i == 999) {
      late_z = d.zscore().anomalies();
    }
  }
  late_z = d.zscore().anomalies() - late_z;
  CHECK(late_z == 40);
  CHECK(late_no_veto == 40);
  CHECK(late == 0);
}

TEST_CASE("during its learning period anomaly_detector alerts on |z| > threshold with the Gaussian score",
          "[detector]") {
  // What a server's first minutes need: 100 samples in, a z ≈ 50 spike still alerts at once.
  streamstats::anomaly_detector<double> d;
  for (int i = 0; i < 100; ++i) {
    (void)d.push(i % 2 == 0 ? 1.0 : -1.0);
  }
  const auto r = d.push(50.0);
  CHECK(r.anomaly);
  CHECK(r.new_episode);
  CHECK(std::isnan(r.p));  // no rank yet
  CHECK(r.score() == Approx(two_sided_score(r.z)).epsilon(1e-12));
  CHECK(r.score() > 0.99);
}

TEST_CASE("a flat series with one step gives exactly one alert episode", "[detector][resolution]") {
  // The step is an event (the series never moved before): z = ±Inf, flagged until the re-learn takes
  // the new level (16 same-side anomalies), all in one episode; then silence.
  streamstats::anomaly_detector<double> d;
  zscore_detector<streamstats::rolling_variance<double, 64>> z{streamstats::rolling_variance<double, 64>{}};
  for (int i = 0; i < 2000; ++i) {
    const double x = i < 1000 ? 10.0 : 11.0;
    (void)d.push(x);
    (void)z.push(x);
  }
  CHECK(d.episodes() == 1);
  CHECK(z.episodes() == 1);
  CHECK(z.anomalies() <= z.options().relearn_after);
  CHECK(z.resolution() == 1.0);
}

TEST_CASE("a quantised series at rest gives at most one alert episode per 10^4 samples",
          "[detector][resolution]") {
  // N(50, 0.3²) rounded to integers: mostly 50, a 49 or 51 one sample in ten; a 64- or 200-sample
  // window of all 50s has σ = 0 and the next 51 was z = ±Inf. Measured: 0 episodes per 10⁵ on
  // seeds 1–3 for both detectors; with resolution_floor = 0, 3224–3452 episodes for
  // zscore_detector<rolling_variance<double, 64>> (and so for anomaly_detector, which alerts on it).
  for (std::uint64_t seed : {1U, 2U, 3U}) {
    streamstats_test::bed_rng rng(seed);
    streamstats::anomaly_detector<double> d;
    zscore_detector<streamstats::rolling_variance<double, 64>> z{streamstats::rolling_variance<double, 64>{}};
    for (int i = 0; i < 100000; ++i) {
      const double x = std::round(50.0 + 0.3 * rng.normal());
      (void)d.push(x);
      (void)z.push(x);
    }
    INFO("seed " << seed);
    CHECK(d.episodes() <= 10);
    CHECK(z.episodes() <= 10);
  }
}

TEST_CASE("anomaly_detector's score is calibrated: P(score >= s) matches p(s) on any distribution",
          "[detector][calibration]") {
  // p(s) = 10^(−s/(1−s)) is the tail probability a score stands for. On N(0, 1) noise and on
  // lognormal noise (exp(1.5·Z), heavy right tail) the fraction of samples (after 1000 of learning,
  // 5 seeds × 19 000) with score() ≥ s is within a factor 1.25 of p(s) for p = 0.1, 0.032, 0.014,
  // 0.01 — below, at and above ≈ 0.6, where an excursion's repeats stop (score() ranks them after
  // every first report and still covers each level at its nominal rate) — and within a factor 2 at
  // p = 0.0046 (s = 0.7, where NAB's thresholds sit), where the rank's own weight (p ≥ 2/1001) starts
  // to tell. Measured 2026-12-03: Gaussian 0.096, 0.032, 0.013, 0.0086, 0.0027; lognormal 0.098,
  // 0.033, 0.013, 0.0090, 0.0033. With the tail bin's mass spread evenly (score_rank until
  // 2026-12-03) the Gaussian fell short — 0.0065 at p = 0.01 and 0.0018 at 0.0046, 0.65 and 0.39 of
  // nominal, while the lognormal's 0.89 and 0.71 hardly moved: one threshold meant a light-tailed
  // series' anomaly was rarer than a heavy-tailed one's. The Gaussian tail score of z fails on the
  // lognormal (0.070, 0.053, 0.046: 3.3× too many at p = 0.014); report_score(), the same ranking
  // with repeats zeroed (the naive thinning), falls 3× short at p = 0.1.
  const double ss[] = {0.5, 0.6, 0.65, 2.0 / 3.0, 0.7};
  const double factor[] = {1.25, 1.25, 1.25, 1.25, 2.0};
  double at_07[2] = {0.0, 0.0};
  for (int kind = 0; kind < 2; ++kind) {
    std::size_t hits[5] = {0, 0, 0, 0, 0};
    std::size_t reports = 0;
    std::size_t n = 0;
    for (std::uint64_t seed = 101; seed <= 105; ++seed) {
      streamstats_test::bed_rng rng(seed);
      streamstats::anomaly_detector<double> d;
      for (int i = 0; i < 20000; ++i) {
        const double g = rng.normal();
        const auto r = d.push(kind == 0 ? g : std::exp(1.5 * g));
        if (i < 1000) {
          continue;
        }
        ++n;
        for (int k = 0; k < 5; ++k) {
          hits[k] += r.score() >= ss[k] ? 1U : 0U;
        }
        reports += r.report_score() >= ss[0] ? 1U : 0U;
      }
    }
    const double thinned = static_cast<double>(reports) / static_cast<double>(n);
    INFO("report_score() >= 0.5: " << thinned);
    CHECK(thinned < 0.1 / 2.0);
    for (int k = 0; k < 5; ++k) {
      const double nominal = streamstats::score_to_p_value(ss[k]);
      const double got = static_cast<double>(hits[k]) / static_cast<double>(n);
      INFO((kind == 0 ? "normal" : "lognormal")
           << ", s = " << ss[k] << ": nominal " << nominal << ", got " << got);
      CHECK(got > nominal / factor[k]);
      CHECK(got < nominal * factor[k]);
    }
    at_07[kind] = static_cast<double>(hits[4]) / static_cast<double>(n);
  }
  // The same threshold means the same on both tails: at s = 0.7 the Gaussian's rate is within 25% of
  // the lognormal's (0.80 of it; 0.55 with the even spread).
  INFO("s = 0.7: normal " << at_07[0] << ", lognormal " << at_07[1]);
  CHECK(at_07[0] > 0.75 * at_07[1]);
  CHECK(at_07[0] < 1.25 * at_07[1]);
}

TEST_CASE("score_rank: in the tail a bin's mass thins out exponentially, at the neighbouring bins' rate",
          "[detector][calibration]") {
  // Without forgetting (span 1e12), 10 000 samples at 0 and 100 / 10 / 1 in bins 11 / 12 / 13
  // (bin k: log1p(raw) in [k/4, (k+1)/4)). A raw score halfway into bin 12 is in the tail (less than
  // 10% of the weight at or above its bin); the density there falls by λ = ln((100 + 10)/(10 + 1)) =
  // ln 10 per bin, so the share of bin 12 above the sample is (e^{−λ/2} − e^{−λ}) / (1 − e^{−λ}) =
  // 0.2403 rather than the even spread's 0.5. Its own weight counts once, in numerator and total.
  streamstats::score_rank<double> r(1e12);
  const auto mid = [](double k) { return std::expm1((k + 0.5) * 0.25); };
  for (int i = 0; i < 10000; ++i) {
    (void)r.push(0.0);
  }
  for (int i = 0; i < 100; ++i) {
    (void)r.push(mid(11));
  }
  for (int i = 0; i < 10; ++i) {
    (void)r.push(mid(12));
  }
  (void)r.push(mid(13));
  const double lambda = std::log(110.0 / 11.0);
  const double share = (std::exp(-lambda / 2.0) - std::exp(-lambda)) / (1.0 - std::exp(-lambda));
  const double total = 10111.0 + 1.0;
  const auto at = r.rank_of(mid(12));
  CHECK(at.p == Approx((1.0 + share * 10.0 + 1.0) / total).epsilon(1e-6));
  CHECK(at.graded == at.p);  // bin 13 holds weight above: not beyond the recent maximum
  CHECK(at.p_bin == Approx((1.0 + 10.0 + 1.0) / total).epsilon(1e-6));  // the whole bin: unchanged
  // At a bin's edges the exponential and the even spread agree: no step in p.
  const auto low_edge = r.rank_of(std::expm1(12.0 * 0.25) * (1.0 + 1e-12));
  CHECK(low_edge.p == Approx((1.0 + 10.0 + 1.0) / total).epsilon(1e-6));
  const auto below = r.rank_of(std::expm1(12.0 * 0.25) * (1.0 - 1e-12));  // top of bin 11
  CHECK(below.p == Approx(low_edge.p).epsilon(1e-6));
  // Off the tail (bin 0 holds 99% of the weight) the even spread: halfway into bin 0 counts half of it.
  const auto bulk = r.rank_of(mid(0));
  CHECK(bulk.p == Approx((111.0 + 0.5 * 10000.0 + 1.0) / total).epsilon(1e-6));
}

TEST_CASE("score_rank: p is the weighted fraction of recent raw scores at or above, forgetting the old",
          "[detector][calibration]") {
  streamstats::score_rank<double> r(100.0);
  CHECK(r.push(1.0) == 0.0);  // nothing to rank against
  for (int i = 0; i < 1000; ++i) {
    (void)r.push(1.0);
  }
  // Far above everything: only the sample's own weight, ≈ α = 2/101 of the total.
  CHECK(std::exp(r.log_p(50.0)) == Approx(2.0 / 101.0).epsilon(0.02));
  // Far below everything: p = 1.
  CHECK(r.log_p(0.0) == 0.0);
  // 300 samples at 50 later, 50 is ordinary (most of the weight is there).
  for (int i = 0; i < 300; ++i) {
    (void)r.push(50.0);
  }
  CHECK(std::exp(r.log_p(20.0)) > 0.95);
  // Within a bin p is interpolated: 50 sits 73% into its bin, 45 31% into the same bin.
  CHECK(std::exp(r.log_p(45.0)) > std::exp(r.log_p(50.0)));
  CHECK(std::exp(r.log_p(1e300)) < 0.03);
  CHECK(r.push(std::numeric_limits<double>::quiet_NaN()) == 0.0);
  CHECK(r.count() == 1301);
  CHECK_THROWS_AS(streamstats::score_rank<double>(0.5), std::invalid_argument);
  CHECK_THROWS_AS(streamstats::score_rank<double>(100.0, 0.0), std::invalid_argument);
}

TEST_CASE("invalid options are refused with std::invalid_argument naming the option", "[detector][edge]") {
  using D = zscore_detector<variance<double>>;
  const auto with = [](auto change) {
    zscore_options o;
    change(o);
    return o;
  };
  CHECK_THROWS_WITH(D(variance<double>{}, with([](zscore_options& o) { o.threshold = 0.0; })),
                    Catch::Contains("threshold"));
  CHECK_THROWS_AS(D(variance<double>{}, with([](zscore_options& o) { o.threshold = nan_v; })),
                  std::invalid_argument);
  CHECK_THROWS_AS(D(variance<double>{}, with([](zscore_options& o) { o.threshold = inf_v; })),
                  std::invalid_argument);
  CHECK_THROWS_WITH(D(variance<double>{}, with([](zscore_options& o) { o.min_stddev = -1.0; })),
                    Catch::Contains("min_stddev"));
  CHECK_THROWS_WITH(D(variance<double>{}, with([](zscore_options& o) { o.resolution_floor = -1.0; })),
                    Catch::Contains("resolution_floor"));
  CHECK_THROWS_WITH(D(variance<double>{}, with([](zscore_options& o) { o.relearn_after = 65; })),
                    Catch::Contains("relearn_after"));
  CHECK_NOTHROW(D(variance<double>{}, with([](zscore_options& o) { o.relearn_after = 64; })));
  CHECK_THROWS_AS(streamstats::anomaly_detector<double>(with([](zscore_options& o) { o.threshold = -2.0; })),
                  std::invalid_argument);
}

TEST_CASE("anomaly_detector: p_graded keeps ranking beyond the recent maximum, p stops at its floor",
          "[detector][calibration]") {
  // After 2000 samples of N(0, 1), z = 8 and z = 30 are both beyond every recent |z|: p is the floor
  // (≈ 2/1001 of the weight) for both, p_graded is smaller for 30 than for 8, and below p; score()
  // ranks by p_graded, so it does not saturate at the floor (issue 10: the top of the range must
  // keep ordering what was never seen).
  streamstats::anomaly_detector<double> d;
  streamstats_test::bed_rng rng(5);
  for (int i = 0; i < 2000; ++i) {
    (void)d.push(rng.normal());
  }
  auto a = d;
  auto b = d;
  const double sigma = d.baseline().stddev();
  const double mean = d.baseline().mean();
  const auto r8 = a.push(mean + 8.0 * sigma);
  const auto r30 = b.push(mean + 30.0 * sigma);
  CHECK(r8.p == Approx(r30.p).epsilon(1e-9));
  CHECK(r8.p == Approx(2.0 / 1001.0).epsilon(0.05));
  CHECK(r30.p_graded < r8.p_graded);
  CHECK(r8.p_graded < r8.p);
  CHECK(r30.report_score() > r8.report_score());
  CHECK(r30.score() > r8.score());
  CHECK(r8.score() > streamstats::anomaly_score(std::log(r8.p)));  // beyond the floor's score
  // Within the recent range p_graded is p.
  const auto r1 = d.push(mean + 1.0 * sigma);
  CHECK(r1.p_graded == r1.p);
}

TEST_CASE("anomaly_result::score ranks an excursion's first report above its repeats, and both by p",
          "[detector][calibration]") {
  // With quiet = n, score() is anomaly_score of P, the null probability of a sample at least as
  // anomalous: a first report (p < 0.1, no p as small in the previous n) has P = ∫₀^p (1 − v)^n dv;
  // a repeat comes after every first report below 0.1 — R = ∫₀^0.1 (1 − v)^n dv — and before every
  // sample that is not rare: P = R + p − ∫₀^p (1 − v)^n dv; a sample with p ≥ 0.1 has P = p.
  const auto result = [](double p, bool repeat, std::uint32_t quiet) {
    streamstats::anomaly_result<double> r{};
    r.z = 3.0;
    r.status = zscore_status::scored;
    r.side = zscore_side::both;
    r.p = p;
    r.p_graded = p;
    r.repeat = repeat;
    r.quiet = quiet;
    return r;
  };
  const double rare = 0.1;
  const double all_first = first_report_probability(rare, 30);
  CHECK(all_first == Approx(0.031026).epsilon(1e-4));  // (1 − 0.9^31) / 31
  for (const double p : {1e-9, 1e-4, 0.002, 0.01, 0.05, 0.0999}) {
    INFO("p = " << p);
    const double first = first_report_probability(p, 30);
    CHECK(result(p, false, 30).log_tail() == Approx(std::log(first)).epsilon(1e-9));
    CHECK(result(p, false, 30).score() == Approx(anomaly_score(std::log(first))).epsilon(1e-9));
    CHECK(result(p, true, 30).log_tail() == Approx(std::log(all_first + p - first)).epsilon(1e-9));
    // Every first report outranks every repeat; a repeat outranks every sample that is not rare.
    CHECK(result(p, false, 30).score() > result(1e-12, true, 30).score());
    CHECK(result(p, true, 30).score() > result(rare, false, 30).score());
    // quiet = 0: no thinning, score() is anomaly_score of ln p.
    CHECK(result(p, false, 0).score() == Approx(anomaly_score(std::log(p))).epsilon(1e-12));
  }
  // No repeat scores 0.61 or more (P ≥ R ≈ 0.031): an excursion's continuation stays below a
  // threshold its first sample passes.
  CHECK(result(1e-12, true, 30).score() < 0.602);
  CHECK(result(1e-12, true, 30).score() > 0.600);
  // Continuous at p = 0.1 from both sides, P = p above it.
  CHECK(result(0.1 - 1e-12, true, 30).log_tail() == Approx(std::log(0.1)).epsilon(1e-9));
  CHECK(result(0.3, false, 30).log_tail() == Approx(std::log(0.3)).epsilon(1e-15));
  CHECK(result(1.0, false, 30).score() == 0.0);
  CHECK(result(0.0, false, 30).score() == 1.0);
  CHECK(result(1e-12, true, 30).report_score() == 0.0);
  CHECK(result(0.05, false, 30).report_score() == result(0.05, false, 30).score());
}

TEST_CASE("anomaly_detector: invalid seasonal and quiet options are refused", "[detector][edge]") {
  using D = streamstats::anomaly_detector<double>;
  streamstats::seasonal_options so;
  so.slot_alpha = 0.0;
  CHECK_THROWS_AS(D(streamstats::zscore_options{}, streamstats::calibration_options{}, so),
                  std::invalid_argument);
  so.slot_alpha = 0.2;
  so.use_ratio = -1.0;
  CHECK_THROWS_AS(D(streamstats::zscore_options{}, streamstats::calibration_options{}, so),
                  std::invalid_argument);
  streamstats::calibration_options c;
  c.quiet = streamstats::calibration_options::max_quiet + 1;
  CHECK_THROWS_AS(D(streamstats::zscore_options{}, c), std::invalid_argument);
  so.use_ratio = 0.5;
  so.period = 1;  // a period of one sample: a profile of one slot, the series' own mean
  D one(streamstats::zscore_options{}, streamstats::calibration_options{}, so);
  for (int i = 0; i < 100; ++i) {
    (void)one.push(static_cast<double>(i % 3));
  }
  CHECK(one.count() == 100);
}

TEST_CASE("with a seasonal stage, a flat step is still one episode and a quantised series stays quiet",
          "[detector][resolution]") {
  // The period changes nothing on series without a cycle: the residual of a flat or quantised
  // series never explains more of its variance than x itself, so the stage is not used.
  streamstats::seasonal_options so;
  so.period = 288;
  const streamstats::anomaly_detector<double> proto(streamstats::zscore_options{},
                                                    streamstats::calibration_options{}, so);
  auto flat = proto;
  for (int i = 0; i < 2000; ++i) {
    (void)flat.push(i < 1000 ? 10.0 : 11.0);
  }
  CHECK(flat.episodes() == 1);
  for (std::uint64_t seed : {1U, 2U, 3U}) {
    streamstats_test::bed_rng rng(seed);
    auto d = proto;
    std::size_t used = 0;
    for (int i = 0; i < 100000; ++i) {
      (void)d.push(std::round(50.0 + 0.3 * rng.normal()));
      used += d.seasonal_in_use() ? 1U : 0U;
    }
    INFO("seed " << seed << ", samples scored on the residual " << used);
    CHECK(d.episodes() <= 10);
  }
}

namespace {
// Seconds since the epoch as a time_point of system_clock (what a producer's "t" is).
using seconds_point = std::chrono::time_point<std::chrono::system_clock, std::chrono::duration<double>>;
seconds_point at_seconds(double t) { return seconds_point(std::chrono::duration<double>(t)); }
}  // namespace

TEST_CASE("anomaly_detector learns the period of a daily cycle from timestamps", "[detector][seasonal]") {
  using D = streamstats::anomaly_detector<double>;
  const double t0 = 1.7e9;  // a Unix time: the spacings must survive its magnitude
  SECTION("a regular 5-minute stream, a gap and a repeated timestamp among the first spacings") {
    D d;
    double t = t0;
    for (int i = 0; i < 40; ++i) {
      (void)d.push(1.0 + (i % 3), at_seconds(t));
      CHECK(d.period() == (i <= 32 ? 0U : 288U));     // decided on the 32nd spacing, one sample late here
      t += i == 5 ? 7200.0 : (i == 9 ? 0.0 : 300.0);  // a 2-hour gap; sample 10 repeats 9's time
    }
    CHECK(d.pace() == 300.0);
    CHECK(d.period() == 288);  // 86400 / 300
    d.reset();
    CHECK(d.period() == 0);
    CHECK(d.pace() == 0.0);
  }
  SECTION("timestamps on every tenth sample only: the spacing is shared by the samples between") {
    D d;
    for (int i = 0; i < 400; ++i) {
      if (i % 10 == 0) {
        (void)d.push(double(i % 7), at_seconds(t0 + 60.0 * i));
      } else {
        (void)d.push(double(i % 7));
      }
    }
    CHECK(d.pace() == Approx(60.0));
    CHECK(d.period() == 1440);
  }
  SECTION("a weekly cycle of hourly data; a cycle of fewer than min_period samples is off") {
    streamstats::seasonal_options week;
    week.cycle = 7 * 86400.0;
    D w(streamstats::zscore_options{}, streamstats::calibration_options{}, week);
    D daily_data;  // one sample a day: 86400 / 86400 = 1 sample per cycle
    for (int i = 0; i < 40; ++i) {
      (void)w.push(double(i % 5), at_seconds(t0 + 3600.0 * i));
      (void)daily_data.push(double(i % 5), at_seconds(t0 + 86400.0 * i));
    }
    CHECK(w.period() == 168);
    CHECK(daily_data.pace() == 86400.0);
    CHECK(daily_data.period() == 0);
  }
  SECTION("irregular timestamps, no timestamps, a given period, cycle 0: no learned period") {
    streamstats_test::bed_rng rng(7);
    D irregular;
    D untimed;
    streamstats::seasonal_options given;
    given.period = 24;
    D fixed(streamstats::zscore_options{}, streamstats::calibration_options{}, given);
    streamstats::seasonal_options none;
    none.cycle = 0.0;
    D off(streamstats::zscore_options{}, streamstats::calibration_options{}, none);
    double t = t0;
    for (int i = 0; i < 100; ++i) {
      t += 300.0 * (0.05 + 2.0 * rng.uniform());  // spacings spread over 15 … 615 s
      (void)irregular.push(double(i % 4), at_seconds(t));
      (void)untimed.push(double(i % 4));
      (void)fixed.push(double(i % 4), at_seconds(t0 + 300.0 * i));
      (void)off.push(double(i % 4), at_seconds(t0 + 300.0 * i));
    }
    CHECK(irregular.period() == 0);
    CHECK(irregular.pace() == 0.0);
    CHECK(untimed.period() == 0);
    CHECK(fixed.period() == 24);
    CHECK(fixed.pace() == 0.0);
    CHECK(off.period() == 0);
  }
  SECTION("an irregular start (a backlog in a burst) is retried: the next regular spacings give the pace") {
    streamstats_test::bed_rng rng(5);
    D d;
    double t = t0;
    for (int i = 0; i < 100; ++i) {
      t += i < 40 ? 600.0 * rng.uniform() : 300.0;  // 40 jittery spacings, then every 5 minutes
      (void)d.push(double(i % 4), at_seconds(t));
      if (i == 33) {
        CHECK(d.period() == 0);  // the first 32 spacings were irregular
      }
    }
    CHECK(d.pace() == 300.0);
    CHECK(d.period() == 288);
  }
  SECTION("an invalid cycle is refused") {
    streamstats::seasonal_options so;
    so.cycle = -1.0;
    CHECK_THROWS_AS(D(streamstats::zscore_options{}, streamstats::calibration_options{}, so),
                    std::invalid_argument);
    so.cycle = std::numeric_limits<double>::infinity();
    CHECK_THROWS_AS(D(streamstats::zscore_options{}, streamstats::calibration_options{}, so),
                    std::invalid_argument);
  }
}

TEST_CASE("with timestamps, a gap in the data keeps the daily profile aligned", "[detector][seasonal]") {
  // A daily sine of amplitude 5 with N(0, 0.3²) noise, a sample every 5 minutes for 14 days, and 6
  // hours missing at the start of day 7. With timestamps the phase after the gap is the time of day,
  // so nothing alarms in the day after it; counting samples (a given period of 288) puts the profile a
  // quarter of a day off, and the residual jumps by ≈ 5 (16σ of the noise) at the gap.
  const double pi = 3.14159265358979323846;
  streamstats::seasonal_options counted;
  counted.period = 288;
  streamstats::anomaly_detector<double> timed;
  streamstats::anomaly_detector<double> by_count(streamstats::zscore_options{},
                                                 streamstats::calibration_options{}, counted);
  streamstats_test::bed_rng rng(11);
  std::uint64_t timed_after_gap = 0;
  std::uint64_t counted_after_gap = 0;
  for (int i = 0; i < 14 * 288; ++i) {
    if (i >= 7 * 288 && i < 7 * 288 + 72) {
      continue;  // the gap
    }
    const double t = 1.7e9 + 300.0 * i;
    const double x = 10.0 + 5.0 * std::sin(2.0 * pi * i / 288.0) + 0.3 * rng.normal();
    const auto a = timed.push(x, at_seconds(t));
    const auto b = by_count.push(x);
    if (i >= 7 * 288 && i < 8 * 288 + 72) {
      timed_after_gap += a.new_episode ? 1U : 0U;
      counted_after_gap += b.new_episode ? 1U : 0U;
    }
  }
  CHECK(timed.period() == 288);
  CHECK(timed.seasonal_in_use());
  CHECK(timed_after_gap == 0);
  CHECK(counted_after_gap >= 1);
}
