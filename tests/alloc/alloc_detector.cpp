// Pushing 10⁶ samples through the z-score detectors allocates nothing — spikes, re-learns after a
// level shift, rejected NaNs, episodes and score() included; float, double and long double.
#include <catch2/catch.hpp>

#include "counting_new.hpp"

#include <streamstats/ew_variance.hpp>
#include <streamstats/rolling_variance.hpp>
#include <streamstats/variance.hpp>
#include <streamstats/zscore_detector.hpp>

#include <cstddef>
#include <limits>

using streamstats_test::allocations_during;

namespace {
constexpr std::size_t n_samples = 1'000'000;

// A sawtooth with a spike every 5000 samples, a NaN every 7919, and a lasting shift at the half.
double sample(std::size_t i) {
  double x = static_cast<double>(i % 100) * 0.01;
  if (i % 5000 == 4999) {
    x += 100.0;
  }
  if (i > n_samples / 2) {
    x += 1e3;
  }
  if (i % 7919 == 7918) {
    x = std::numeric_limits<double>::quiet_NaN();
  }
  return x;
}

// Half the samples go through push(x), half through operator()(x); every result is also scored (score(), the
// exact tail probability, computed on request).
template <class D>
void require_allocation_free(D& d) {
  using T = typename D::value_type;
  std::size_t flagged = 0;
  double scores = 0.0;
  const std::size_t n = allocations_during([&] {
    for (std::size_t i = 0; i < n_samples; ++i) {
      const auto x = static_cast<T>(sample(i));
      const auto r = i % 2 == 0 ? d.push(x) : d(x);  // push(x) and operator()(x) alike
      flagged += r.anomaly ? 1U : 0U;
      scores += static_cast<double>(r.score());
    }
  });
  CHECK(n == 0);
  CHECK(flagged > 0);
  CHECK(scores > 0.0);
  CHECK(d.rejected() == n_samples / 7919);
  CHECK(d.episodes() > 0);
}
}  // namespace

TEST_CASE("z-score detectors allocate nothing while scoring 10^6 samples", "[alloc][detector]") {
  SECTION("anomaly_detector<double> (rolling 64)") {
    streamstats::anomaly_detector<double> d;
    require_allocation_free(d);
  }
  SECTION("anomaly_detector<float>") {
    streamstats::anomaly_detector<float> d;
    require_allocation_free(d);
  }
  SECTION("anomaly_detector<long double>") {
    streamstats::anomaly_detector<long double> d;
    require_allocation_free(d);
  }
  SECTION("anomaly_detector<double> with a seasonal stage (period 288), report_score() included") {
    streamstats::seasonal_options so;
    so.period = 288;
    streamstats::anomaly_detector<double> d(streamstats::zscore_options{}, streamstats::calibration_options{},
                                            so);
    double reports = 0.0;
    const std::size_t n = allocations_during([&] {
      for (std::size_t i = 0; i < n_samples / 4 + 1000; ++i) {  // not ending on a spike
        // a daily square wave the profile learns, plus the noise and shift of sample(i)
        reports += static_cast<double>(d.push(sample(i) + ((i / 144) % 2 == 0 ? 10.0 : 0.0)).report_score());
      }
    });
    CHECK(n == 0);
    CHECK(reports > 0.0);
    CHECK(d.seasonal_in_use());
    streamstats::anomaly_detector<double> fresh(streamstats::zscore_options{},
                                                streamstats::calibration_options{}, so);
    require_allocation_free(fresh);
  }
  SECTION("zscore_detector<variance<double>>, skip learning: the shift forces a re-learn") {
    streamstats::zscore_options o;
    o.learning = streamstats::zscore_learning::skip;
    streamstats::zscore_detector<streamstats::variance<double>> d(streamstats::variance<double>{}, o);
    require_allocation_free(d);
    CHECK(d.relearns() > 0);
  }
  SECTION("anomaly_detector<double, 200>, score() included") {
    streamstats::anomaly_detector<double, 200> d;
    double sum = 0.0;
    const std::size_t n = allocations_during([&] {
      for (std::size_t i = 0; i < n_samples; ++i) {
        sum += d.push(sample(i)).score();
      }
    });
    CHECK(n == 0);
    CHECK(sum > 0.0);
    CHECK(d.episodes() > 0);
  }
  SECTION("zscore_detector<ew_variance<double>>") {
    streamstats::zscore_detector<streamstats::ew_variance<double>> d(
        streamstats::ew_variance<double>::from_span(64.0));
    require_allocation_free(d);
  }
}
