// Allocation-free proof for the statistics of issue 16: run-time window lengths (constructing one
// and pushing 10⁶ samples allocates nothing), weighted statistics.
#include <catch2/catch.hpp>

#include "require_allocation_free.hpp"

#include <streamstats/streamstats.hpp>

#include <cstddef>
#include <vector>

using namespace streamstats;
using streamstats_test::allocations_during;
using streamstats_test::require_allocation_free;

TEST_CASE("windows with a run-time length allocate nothing, constructed or pushed", "[alloc]") {
  const std::vector<double> batch(65536, 1.25);
  SECTION("sma<double, 4096>(300), both sum policies") {
    std::size_t made = allocations_during([] {
      sma<double, 4096> a(300);
      sma<double, 4096, window_sum::compensated> b(300);
      (void)a;
      (void)b;
    });
    CHECK(made == 0);
    sma<double, 4096> a(300);
    require_allocation_free(a, batch);
    sma<double, 4096, window_sum::compensated> b(300);
    require_allocation_free(b, batch);
  }
  SECTION("rolling_variance<double, 4096>(300)") {
    std::size_t made = allocations_during([] {
      rolling_variance<double, 4096> a(300);
      (void)a;
    });
    CHECK(made == 0);
    rolling_variance<double, 4096> a(300);
    require_allocation_free(a, batch);
  }
  SECTION("rolling_extrema<double, 4096>(300)") {
    std::size_t made = allocations_during([] {
      rolling_extrema<double, 4096> a(300);
      (void)a;
    });
    CHECK(made == 0);
    rolling_extrema<double, 4096> a(300);
    require_allocation_free(a, batch);
  }
}

TEST_CASE("weighted_mean and weighted_variance allocate nothing while pushing and merging 10^6 samples",
          "[alloc]") {
  weighted_mean<double> m;
  weighted_variance<double> v;
  weighted_mean<double> m2;
  weighted_variance<double> v2;
  const std::size_t made = allocations_during([&] {
    for (std::size_t i = 0; i < streamstats_test::alloc_test_samples; ++i) {
      const double x = static_cast<double>(i % 1000) * 0.5;
      const double w = 1.0 + static_cast<double>(i % 7);
      m.push(x, w);
      v.push(x, w);
      m2(x, -w);  // rejected pushes too
      v2(x, 0.0);
    }
    m += m2;
    v.merge(v2);
  });
  CHECK(made == 0);
  CHECK(m.count() == streamstats_test::alloc_test_samples);
  CHECK(v.count() == streamstats_test::alloc_test_samples);
  CHECK(m.rejected() == streamstats_test::alloc_test_samples);
}
