// Pushing 10⁶ samples through every core accumulator allocates nothing.
#include <catch2/catch.hpp>

#include "require_allocation_free.hpp"

#include <streamstats/streamstats.hpp>

#include <cstddef>
#include <vector>

using namespace streamstats;
using streamstats_test::allocations_during;
using streamstats_test::require_allocation_free;

TEST_CASE("the counter sees allocations (the proof can fail)", "[alloc]") {
  const std::size_t n = allocations_during([] {
    std::vector<double> v(10);
    v.push_back(1.0);
  });
  CHECK(n >= 1);
}

TEST_CASE("core accumulators allocate nothing while pushing 10^6 samples", "[alloc]") {
  const std::vector<double> batch(65536, 1.25);
  SECTION("mean") {
    mean<double> a;
    require_allocation_free(a, batch);
  }
  SECTION("variance") {
    variance<double> a;
    require_allocation_free(a, batch);
  }
  SECTION("moments") {
    moments<double> a;
    require_allocation_free(a, batch);
  }
  SECTION("extrema") {
    extrema<double> a;
    require_allocation_free(a, batch);
  }
  SECTION("autocorrelation") {
    autocorrelation<double> a;
    require_allocation_free(a, batch);
  }
  SECTION("multi") {
    multi<mean<double>, variance<double>, moments<double>, extrema<double>, autocorrelation<double>> a;
    require_allocation_free(a, batch);
  }
}
