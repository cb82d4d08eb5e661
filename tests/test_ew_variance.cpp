#include <catch2/catch.hpp>

#include <streamstats/ew_variance.hpp>
#include <support/csv.hpp>
#include <support/relative.hpp>

#include <cmath>
#include <cstddef>
#include <iostream>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using streamstats::ema;
using streamstats::ema_convention;
using streamstats::ew_variance;
using streamstats_test::close_rel;
using streamstats_test::load_pandas_csv;

namespace {
constexpr double qnan = std::numeric_limits<double>::quiet_NaN();

ew_variance<double> make(const std::string& param, ema_convention c) {
  if (param == "span1")
    return ew_variance<double>::from_span(1, c);
  if (param == "span10")
    return ew_variance<double>::from_span(10, c);
  if (param == "halflife3.5")
    return ew_variance<double>::from_halflife(3.5, c);
  if (param == "com0.5")
    return ew_variance<double>::from_com(0.5, c);
  if (param == "alpha0.05")
    return ew_variance<double>(0.05, c);
  if (param == "alpha1")
    return ew_variance<double>(1.0, c);
  throw std::logic_error("unknown parameter " + param);
}

const char* const params[] = {"span1", "span10", "halflife3.5", "com0.5", "alpha0.05", "alpha1"};
}  // namespace

TEST_CASE("ew_variance below its minimum count returns the documented NaN or 0", "[ew_variance]") {
  auto v = ew_variance<double>::from_span(5);
  CHECK(std::isnan(v.mean()));
  CHECK(std::isnan(v.sample_variance()));
  CHECK(std::isnan(v.population_variance()));
  CHECK(std::isnan(v.stddev()));
  CHECK(std::isnan(v.value()));
  v.push(2.0);
  CHECK(v.mean() == 2.0);
  CHECK(v.population_variance() == 0.0);
  CHECK(std::isnan(v.sample_variance()));  // one observation: (Σw)² − Σw² = 0
  v.push(4.0);
  CHECK_FALSE(std::isnan(v.sample_variance()));
  STATIC_REQUIRE(noexcept(v.push(1.0)));
}

TEST_CASE("ew_variance of two samples matches the closed form", "[ew_variance]") {
  // adjust=True, α = 0.5: weights (0.5, 1) on (x0, x1) = (2, 4). Weighted mean 10/3; biased variance
  // Σw(x−m)²/Σw = (0.5·16/9 + 4/9)/1.5 = 8/9; reliability correction (Σw)²/((Σw)² − Σw²) =
  // 2.25/(2.25 − 1.25) = 2.25, so the unbiased variance is 2.
  ew_variance<double> v(0.5, ema_convention::pandas_adjust_true);
  v.push(2.0);
  v.push(4.0);
  CHECK(v.mean() == Approx(10.0 / 3.0).epsilon(1e-15));
  CHECK(v.population_variance() == Approx(8.0 / 9.0).epsilon(1e-15));
  CHECK(v.sample_variance() == Approx(2.0).epsilon(1e-15));
  CHECK(v.stddev() == Approx(std::sqrt(2.0)).epsilon(1e-15));
  CHECK(v.population_stddev() == Approx(std::sqrt(8.0 / 9.0)).epsilon(1e-15));
  CHECK(v.value() == v.sample_variance());
}

TEST_CASE("ew_variance rejects invalid parameters and the talib convention", "[ew_variance][invalid]") {
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(ew_variance<double>(0.0), Contains("alpha"));
  CHECK_THROWS_WITH(ew_variance<double>(qnan), Contains("alpha"));
  CHECK_THROWS_WITH(ew_variance<double>::from_span(0.0), Contains("span"));
  CHECK_THROWS_WITH(ew_variance<double>::from_halflife(0.0), Contains("halflife"));
  CHECK_THROWS_WITH(ew_variance<double>::from_com(-1.0), Contains("com"));
  CHECK_THROWS_WITH(ew_variance<double>::from_span(10, ema_convention::talib), Contains("talib"));
}

TEST_CASE("ew_variance equals pandas ewm mean/var/std for adjust and bias both ways",
          "[ew_variance][pandas]") {
  for (const char* series : {"noise", "offset", "constant", "nan"}) {
    const auto t = load_pandas_csv(std::string("ewm_") + series + ".csv");
    const auto& x = t["x"];
    double worst = 0.0;
    for (const char* param : params) {
      for (const bool adjust : {true, false}) {
        const auto c = adjust ? ema_convention::pandas_adjust_true : ema_convention::pandas_adjust_false;
        const std::string key = std::string(param) + (adjust ? "_adjT" : "_adjF");
        const auto& mean = t[key + "_mean"];
        const auto& var = t[key + "_var"];
        const auto& pvar = t[key + "_pvar"];
        const auto& sd = t[key + "_std"];
        auto v = make(param, c);
        auto e = ema<double>(v.alpha(), c);
        for (std::size_t i = 0; i < x.size(); ++i) {
          v.push(x[i]);
          e.push(x[i]);
          INFO(series << " " << key << " row " << i);
          REQUIRE(close_rel(v.mean(), mean[i], 1e-12));
          // The same average as ema<T>, computed on shifted data (double-word mean): they differ only
          // by the rounding of the two recurrences, a few ulps accumulated over the stream.
          REQUIRE(close_rel(v.mean(), e.value(), 1e-13));
          REQUIRE(close_rel(v.sample_variance(), var[i], 1e-12));
          REQUIRE(close_rel(v.population_variance(), pvar[i], 1e-12));
          REQUIRE(close_rel(v.stddev(), sd[i], 1e-12));
          REQUIRE(!(v.population_variance() < 0.0));
          for (const auto& [got, want] :
               {std::pair{v.sample_variance(), var[i]}, std::pair{v.population_variance(), pvar[i]}}) {
            if (!std::isnan(want) && want != 0.0) {
              worst = std::max(worst, std::fabs(got - want) / want);
            }
          }
        }
      }
    }
    std::cout << "ew_variance vs pandas ewm var, bias=False and True (60-digit reference; 6 parameters, both "
                 "adjust), "
              << series << ": max rel err " << worst << "\n";
    // README: "≤ 1.7e-15 from pandas' exact values, also at 1e9 offsets"; 0 where the data are constant.
    INFO(series);
    CHECK(worst <= 1.7e-15);
    if (std::string(series) == "constant") {
      CHECK(worst == 0.0);
    }
  }
}

TEST_CASE("ew_variance has no cancellation: constant data gives 0, offset data its true spread",
          "[ew_variance]") {
  auto v = ew_variance<double>::from_span(30);
  for (int i = 0; i < 10000; ++i) {
    v.push(1e9 + 0.5);
  }
  CHECK(v.population_variance() == 0.0);
  CHECK(v.sample_variance() == 0.0);
  // ±1 alternating around 1e9: E[x²] − E[x]² would cancel 18 digits; the weighted variance of a
  // long alternating stream tends to 1 (population) for small α.
  auto w = ew_variance<double>(0.001, ema_convention::pandas_adjust_true);
  for (int i = 0; i < 200000; ++i) {
    w.push(1e9 + (i % 2 == 0 ? 1.0 : -1.0));
  }
  CHECK(w.population_variance() == Approx(1.0).epsilon(1e-6));
}

TEST_CASE("ew_variance batch push equals the scalar loop — reset keeps alpha", "[ew_variance][batch]") {
  std::vector<double> xs;
  for (int i = 0; i < 400; ++i) {
    xs.push_back(std::cos(i * 0.2) * 2.0 + 1.0);
  }
  auto a = ew_variance<double>::from_com(4.0);
  auto b = a;
  for (double x : xs) {
    a(x);
  }
  b.push(xs.begin(), xs.end());
  CHECK(a.sample_variance() == b.sample_variance());
  b.reset();
  CHECK(std::isnan(b.mean()));
  CHECK(b.count() == 0);
  CHECK(b.alpha() == 0.2);
  CHECK(b.convention() == ema_convention::pandas_adjust_false);
}

TEST_CASE("ew_variance treats infinities as missing values, as pandas does", "[ew_variance][nonfinite]") {
  // pandas turns ±inf into NaN before ewm: [1, inf, 2] has the statistics of [1, NaN, 2].
  auto v = ew_variance<double>::from_span(4);
  auto w = ew_variance<double>::from_span(4);
  for (double x :
       {1.0, std::numeric_limits<double>::infinity(), 2.0, -std::numeric_limits<double>::infinity()}) {
    v.push(x);
  }
  for (double x : {1.0, qnan, 2.0, qnan}) {
    w.push(x);
  }
  CHECK(v.mean() == w.mean());
  CHECK(v.sample_variance() == w.sample_variance());
  CHECK(std::isfinite(v.sample_variance()));
  CHECK(v.count() == 4);
}
