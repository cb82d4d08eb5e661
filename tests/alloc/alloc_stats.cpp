// Allocation-free proof for the statistics of issue 16: run-time window lengths (constructing one
// and pushing 10⁶ samples allocates nothing).
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
