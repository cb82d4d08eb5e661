// The accumulators work in constant expressions: these static_asserts are evaluated by the compiler.
#include <catch2/catch.hpp>

#include <streamstats/autocorrelation.hpp>
#include <streamstats/extrema.hpp>
#include <streamstats/mean.hpp>
#include <streamstats/moments.hpp>
#include <streamstats/multi.hpp>
#include <streamstats/variance.hpp>

namespace {
constexpr double data[] = {2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0};

constexpr streamstats::variance<double> compile_time_variance() {
  streamstats::variance<double> v;
  for (double x : data) {
    v.push(x);
  }
  return v;
}

constexpr streamstats::mean<double> compile_time_mean() {
  streamstats::mean<double> m;
  m.push(std::begin(data), std::end(data));  // the batch (lane) path, at compile time
  return m;
}

constexpr auto compile_time_multi() {
  streamstats::multi<streamstats::extrema<double>, streamstats::moments<double>,
                     streamstats::autocorrelation<double>>
      m;
  for (double x : data) {
    m.push(x);
  }
  return m;
}

constexpr auto v = compile_time_variance();
constexpr auto m = compile_time_mean();
constexpr auto mm = compile_time_multi();
}  // namespace

static_assert(v.count() == 8);
static_assert(v.mean() == 5.0);
static_assert(v.population_variance() == 4.0);
static_assert(m.value() == 5.0);
static_assert(mm.get<0>().max() == 9.0);
static_assert(streamstats::detail::abs(mm.get<1>().population_variance() - 4.0) < 1e-12);

TEST_CASE("accumulators evaluated at compile time give the closed-form results", "[constexpr]") {
  STATIC_REQUIRE(v.sample_variance() == 32.0 / 7.0);
  STATIC_REQUIRE(mm.get<0>().min() == 2.0);
  CHECK(mm.get<2>().count() == 8);
}
