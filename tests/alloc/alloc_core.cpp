// Pushing 10⁶ samples through every core accumulator allocates nothing, for float, double and long
// double, through push(x), operator()(x) and the batch push; merging allocates nothing either.
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

TEMPLATE_TEST_CASE("core accumulators allocate nothing while pushing 10^6 samples or merging", "[alloc]",
                   float, double, long double) {
  using T = TestType;
  SECTION("mean") {
    mean<T> a;
    require_allocation_free(a);
  }
  SECTION("variance") {
    variance<T> a;
    require_allocation_free(a);
  }
  SECTION("moments") {
    moments<T> a;
    require_allocation_free(a);
  }
  SECTION("extrema") {
    extrema<T> a;
    require_allocation_free(a);
  }
  SECTION("autocorrelation") {
    autocorrelation<T> a;
    require_allocation_free(a);
  }
  SECTION("multi") {
    multi<mean<T>, variance<T>, moments<T>, extrema<T>, autocorrelation<T>> a;
    require_allocation_free(a);
  }
}
