#include <catch2/catch.hpp>

#include <support/tail_reference.hpp>

#include <streamstats/variance.hpp>
#include <streamstats/zscore_detector.hpp>

#include <cmath>
#include <cstddef>
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
  CHECK(up.z == inf_v);
  CHECK(up.score() == 1.0);
  CHECK(up.anomaly);
  const auto down = d.push(0.0);
  CHECK(down.z == -inf_v);
  CHECK(down.anomaly);
  CHECK_FALSE(down.new_episode);  // same episode (cool-down not over)
}

TEST_CASE("min_stddev floors sigma on a near-constant series", "[detector][edge]") {
  zscore_options o;
  o.min_stddev = 0.01;
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
  CHECK(d.push(0.5).z == Approx(0.5 / d.baseline().stddev()).epsilon(1e-12));
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
  streamstats::anomaly_detector<double> d;
  STATIC_REQUIRE(std::is_same_v<streamstats::anomaly_detector<double>::baseline_type,
                                streamstats::rolling_variance<double, 64>>);
  CHECK(d.options().threshold == 4.5);
  CHECK(d.options().warmup == 30);
  // After 200 samples of ±1 the window holds the last 64: sd = sqrt(64/63).
  for (int i = 0; i < 200; ++i) {
    (void)d.push(i % 2 == 0 ? 1.0 : -1.0);
  }
  CHECK(d.baseline().stddev() == Approx(std::sqrt(64.0 / 63.0)).epsilon(1e-12));
  const auto r = d.push(5.0);
  CHECK(r.z == Approx(5.0 / std::sqrt(64.0 / 63.0)).epsilon(1e-12));
  CHECK(r.anomaly);
  streamstats::zscore_options o;
  o.threshold = 6.0;
  const streamstats::anomaly_detector<float> custom(o);
  CHECK(custom.options().threshold == 6.0);
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
  CHECK_THROWS_WITH(D(variance<double>{}, with([](zscore_options& o) { o.relearn_after = 65; })),
                    Catch::Contains("relearn_after"));
  CHECK_NOTHROW(D(variance<double>{}, with([](zscore_options& o) { o.relearn_after = 64; })));
  CHECK_THROWS_AS(streamstats::anomaly_detector<double>(with([](zscore_options& o) { o.threshold = -2.0; })),
                  std::invalid_argument);
}
