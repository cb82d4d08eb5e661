// Pushing 10⁶ samples through every window, smoothing and quantile accumulator allocates nothing, for
// float, double and long double, through push(x), operator()(x) and the batch push.
#include <catch2/catch.hpp>

#include "require_allocation_free.hpp"

#include <streamstats/streamstats.hpp>

#include <chrono>
#include <cstddef>
#include <vector>

using namespace streamstats;
using streamstats_test::allocations_during;
using streamstats_test::require_allocation_free;

TEMPLATE_TEST_CASE("window, smoothing and quantile accumulators allocate nothing while pushing 10^6 samples",
                   "[alloc]", float, double, long double) {
  using T = TestType;
  SECTION("sma (compensated)") {
    sma<T, 1000, window_sum::compensated> a;
    require_allocation_free(a);
  }
  SECTION("sma (recompute)") {
    sma<T, 1000, window_sum::recompute> a;
    require_allocation_free(a);
  }
  SECTION("rolling_variance") {
    rolling_variance<T, 1000> a;
    require_allocation_free(a);
  }
  SECTION("rolling_extrema") {
    rolling_extrema<T, 1000> a;
    require_allocation_free(a);
  }
  SECTION("ema, every convention") {
    auto a = ema<T>::from_span(20);
    require_allocation_free(a);
    auto b = ema<T>::from_halflife(T(5), ema_convention::pandas_adjust_true);
    require_allocation_free(b);
    auto c = ema<T>::from_span(20, ema_convention::talib);
    require_allocation_free(c);
  }
  SECTION("ew_variance") {
    auto a = ew_variance<T>::from_com(T(9), ema_convention::pandas_adjust_true);
    require_allocation_free(a);
  }
  SECTION("quantile") {
    quantile<T> a(T(0.99));
    require_allocation_free(a);
  }
  SECTION("time_ema") {
    time_ema<T> a(std::chrono::milliseconds(250));
    const auto t0 = std::chrono::steady_clock::time_point{};
    const std::size_t scalar = allocations_during([&] {
      for (std::size_t i = 0; i < streamstats_test::alloc_test_samples; ++i) {
        a.push(static_cast<T>(i % 1000) * T(0.5), t0 + std::chrono::microseconds(i * 37 % 5000 + i * 100));
      }
    });
    CHECK(a.count() + a.rejected() == streamstats_test::alloc_test_samples);
    CHECK(scalar == 0);
  }
  SECTION("multi of windows") {
    multi<sma<T, 64>, rolling_variance<T, 64>, rolling_extrema<T, 64>, quantile<T>> a(
        sma<T, 64>{}, rolling_variance<T, 64>{}, rolling_extrema<T, 64>{}, quantile<T>(T(0.5)));
    require_allocation_free(a);
  }
}
