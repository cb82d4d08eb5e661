#include <catch2/catch.hpp>

#include <streamstats/extrema.hpp>

#include <cmath>
#include <limits>

using streamstats::extrema;

TEST_CASE("extrema of an empty stream are NaN", "[extrema]") {
  const extrema<double> e;
  CHECK(std::isnan(e.min()));
  CHECK(std::isnan(e.max()));
  CHECK(std::isnan(e.value()));
}

TEST_CASE("extrema track the smallest and largest sample", "[extrema]") {
  extrema<double> e;
  for (double x : {3.0, -1.5, 8.0, 2.0}) {
    e(x);
  }
  CHECK(e.count() == 4);
  CHECK(e.min() == -1.5);
  CHECK(e.max() == 8.0);
  CHECK(e.range() == 9.5);
  e.reset();
  CHECK(e.count() == 0);
  e.push(1.0);
  CHECK(e.min() == 1.0);
  CHECK(e.max() == 1.0);
}

TEST_CASE("extrema treat infinities as values and propagate NaN wherever it appears",
          "[extrema][nonfinite]") {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  extrema<double> e;
  e.push(-inf);
  e.push(1.0);
  CHECK(e.min() == -inf);
  CHECK(e.max() == 1.0);
  e.push(nan);
  e.push(5.0);
  CHECK(std::isnan(e.min()));
  CHECK(std::isnan(e.max()));

  extrema<double> first_nan;
  first_nan.push(nan);
  first_nan.push(2.0);
  CHECK(std::isnan(first_nan.min()));

  extrema<double> clean;
  clean.push(0.0);
  extrema<double> dirty;
  dirty.push(nan);
  clean += dirty;
  CHECK(std::isnan(clean.max()));
}
