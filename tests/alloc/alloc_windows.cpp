// Pushing 10⁶ samples through every window, smoothing and quantile accumulator allocates nothing.
#include <catch2/catch.hpp>

#include "require_allocation_free.hpp"

#include <streamstats/streamstats.hpp>

#include <chrono>
#include <cstddef>
#include <vector>

using namespace streamstats;
using streamstats_test::allocations_during;
using streamstats_test::require_allocation_free;

TEST_CASE("window, smoothing and quantile accumulators allocate nothing while pushing 10^6 samples",
          "[alloc]") {
  const std::vector<double> batch(65536, 1.25);
  SECTION("sma (compensated)") {
    sma<double, 1000, window_sum::compensated> a;
    require_allocation_free(a, batch);
  }
  SECTION("sma (recompute)") {
    sma<double, 1000, window_sum::recompute> a;
    require_allocation_free(a, batch);
  }
  SECTION("rolling_variance") {
    rolling_variance<double, 1000> a;
    require_allocation_free(a, batch);
  }
  SECTION("rolling_extrema") {
    rolling_extrema<double, 1000> a;
    require_allocation_free(a, batch);
  }
  SECTION("ema, every convention") {
    auto a = ema<double>::from_span(20);
    require_allocation_free(a, batch);
    auto b = ema<double>::from_halflife(5.0, ema_convention::pandas_adjust_true);
    require_allocation_free(b, batch);
    auto c = ema<double>::from_span(20, ema_convention::talib);
    require_allocation_free(c, batch);
  }
  SECTION("ew_variance") {
    auto a = ew_variance<double>::from_com(9.0, ema_convention::pandas_adjust_true);
    require_allocation_free(a, batch);
  }
  SECTION("quantile") {
    quantile<double> a(0.99);
    require_allocation_free(a, batch);
  }
  SECTION("time_ema") {
    time_ema<double> a(std::chrono::milliseconds(250));
    const auto t0 = std::chrono::steady_clock::time_point{};
    const std::size_t scalar = allocations_during([&] {
      for (std::size_t i = 0; i < streamstats_test::alloc_test_samples; ++i) {
        a.push(static_cast<double>(i % 1000) * 0.5, t0 + std::chrono::microseconds(i * 37 % 5000 + i * 100));
      }
    });
    CHECK(a.count() + a.rejected() == streamstats_test::alloc_test_samples);
    CHECK(scalar == 0);
  }
  SECTION("multi of windows") {
    multi<sma<double, 64>, rolling_variance<double, 64>, rolling_extrema<double, 64>, quantile<double>> a(
        sma<double, 64>{}, rolling_variance<double, 64>{}, rolling_extrema<double, 64>{},
        quantile<double>(0.5));
    require_allocation_free(a, batch);
  }
}
