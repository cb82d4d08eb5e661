#include <catch2/catch.hpp>

#include <streamstats/ema.hpp>
#include <support/csv.hpp>
#include <support/relative.hpp>

#include <cmath>
#include <cstddef>
#include <iostream>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

using streamstats::ema;
using streamstats::ema_convention;
using streamstats_test::close_rel;
using streamstats_test::load_pandas_csv;

namespace {
constexpr double qnan = std::numeric_limits<double>::quiet_NaN();

// The decay parameters of tests/gen_pandas_reference.py (PARAMS), built with the matching named
// constructor.
ema<double> make(const std::string& param, ema_convention c) {
  if (param == "span1")
    return ema<double>::from_span(1, c);
  if (param == "span10")
    return ema<double>::from_span(10, c);
  if (param == "halflife3.5")
    return ema<double>::from_halflife(3.5, c);
  if (param == "com0.5")
    return ema<double>::from_com(0.5, c);
  if (param == "alpha0.05")
    return ema<double>(0.05, c);
  if (param == "alpha1")
    return ema<double>(1.0, c);
  throw std::logic_error("unknown parameter " + param);
}

const char* const params[] = {"span1", "span10", "halflife3.5", "com0.5", "alpha0.05", "alpha1"};

// TA-Lib TA_EMA (ta_func/ta_EMA.c, TA_INT_EMA with the default compatibility): no output for the
// first period − 1 samples, the first output is the simple average of the first `period` samples,
// then prevMA = ((x − prevMA) · k) + prevMA with k = 2 / (period + 1). Written out independently
// here, in long double.
std::vector<double> talib_ema(const std::vector<double>& xs, std::size_t period) {
  std::vector<double> out(xs.size(), qnan);
  const long double k = 2.0L / (static_cast<long double>(period) + 1.0L);
  long double prev = 0.0L;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (i + 1 < period) {
      continue;
    }
    if (i + 1 == period) {
      long double s = 0.0L;
      for (std::size_t j = 0; j < period; ++j) {
        s += xs[j];
      }
      prev = s / static_cast<long double>(period);
    } else {
      prev = (static_cast<long double>(xs[i]) - prev) * k + prev;
    }
    out[i] = static_cast<double>(prev);
  }
  return out;
}
}  // namespace

TEST_CASE("ema is NaN before its first observation and keeps its parameters", "[ema]") {
  auto e = ema<double>::from_span(10);
  CHECK(std::isnan(e.value()));
  CHECK(e.count() == 0);
  CHECK(e.alpha() == 2.0 / 11.0);
  CHECK(e.convention() == ema_convention::pandas_adjust_false);
  e.push(3.0);
  CHECK(e.value() == 3.0);  // seeded with the first sample
  e.push(14.0);
  CHECK(e.value() == Approx(3.0 + 2.0 / 11.0 * 11.0).epsilon(1e-15));
  e.reset();
  CHECK(std::isnan(e.value()));
  CHECK(e.alpha() == 2.0 / 11.0);
  STATIC_REQUIRE(noexcept(e.push(1.0)));
}

TEST_CASE("ema named constructors follow pandas' parameter conversions", "[ema]") {
  CHECK(ema<double>::from_span(1).alpha() == 1.0);
  CHECK(ema<double>::from_span(19).alpha() == 0.1);
  CHECK(ema<double>::from_com(0).alpha() == 1.0);
  CHECK(ema<double>::from_com(3).alpha() == 0.25);
  // halflife h: the weight halves every h samples, (1 − α)^h = 1/2.
  const double a = ema<double>::from_halflife(3.5).alpha();
  CHECK(std::pow(1.0 - a, 3.5) == Approx(0.5).epsilon(1e-14));
  CHECK(ema<double>::from_halflife(1.0).alpha() == Approx(0.5).epsilon(1e-15));
  CHECK(ema<double>(0.3).alpha() == 0.3);
}

TEST_CASE("ema rejects invalid parameters with a message naming them", "[ema][invalid]") {
  using Catch::Matchers::Contains;
  CHECK_THROWS_AS(ema<double>(0.0), std::invalid_argument);
  CHECK_THROWS_WITH(ema<double>(0.0), Contains("alpha") && Contains("(0, 1]"));
  CHECK_THROWS_WITH(ema<double>(-0.5), Contains("alpha"));
  CHECK_THROWS_WITH(ema<double>(1.5), Contains("alpha"));
  CHECK_THROWS_WITH(ema<double>(qnan), Contains("alpha") && Contains("nan"));
  CHECK_THROWS_WITH(ema<double>::from_span(0.5), Contains("span") && Contains(">= 1"));
  CHECK_THROWS_WITH(ema<double>::from_span(qnan), Contains("span"));
  CHECK_THROWS_WITH(ema<double>::from_halflife(0.0), Contains("halflife") && Contains("> 0"));
  CHECK_THROWS_WITH(ema<double>::from_halflife(-2.0), Contains("halflife"));
  CHECK_THROWS_WITH(ema<double>::from_com(-0.1), Contains("com") && Contains(">= 0"));
  CHECK_THROWS_WITH(ema<double>(0.5, ema_convention::talib), Contains("talib") && Contains("from_span"));
  CHECK_THROWS_WITH(ema<double>::from_span(2.5, ema_convention::talib), Contains("integer"));
  CHECK_THROWS_WITH(ema<double>::from_com(1.0, ema_convention::talib), Contains("talib"));
  CHECK_NOTHROW(ema<double>::from_span(1, ema_convention::talib));
}

TEST_CASE("ema equals pandas ewm(...).mean() for adjust=True and adjust=False", "[ema][pandas]") {
  for (const char* series : {"noise", "offset", "constant", "nan"}) {
    const auto t = load_pandas_csv(std::string("ewm_") + series + ".csv");
    const auto& x = t["x"];
    for (const char* param : params) {
      for (const bool adjust : {true, false}) {
        const auto c = adjust ? ema_convention::pandas_adjust_true : ema_convention::pandas_adjust_false;
        const auto& want = t[std::string(param) + (adjust ? "_adjT" : "_adjF") + "_mean"];
        auto e = make(param, c);
        double worst = 0.0;
        for (std::size_t i = 0; i < x.size(); ++i) {
          e.push(x[i]);
          INFO(series << " " << param << " adjust=" << adjust << " row " << i);
          REQUIRE(close_rel(e.value(), want[i], 1e-12));
          if (!std::isnan(want[i]) && want[i] != 0.0) {
            worst = std::max(worst, std::fabs(e.value() - want[i]) / std::fabs(want[i]));
          }
        }
        if (std::string(param) == "span10") {
          std::cout << "ema span10 adjust=" << adjust << " vs pandas, " << series << ": max rel err " << worst
                    << "\n";
        }
      }
    }
  }
}

TEST_CASE("ema with a NaN keeps its value and decays the history, as pandas ignore_na=False",
          "[ema][nonfinite]") {
  // Closed form for adjust=False, α = 0.5: after 2, NaN, 4 the weights are (1−α)² on the history
  // and α on the new sample, normalised: (0.25·2 + 0.5·4) / 0.75.
  ema<double> e(0.5);
  e.push(2.0);
  e.push(qnan);
  CHECK(e.value() == 2.0);
  e.push(4.0);
  CHECK(e.value() == Approx((0.25 * 2.0 + 0.5 * 4.0) / 0.75).epsilon(1e-15));
  CHECK(e.count() == 3);
  // A leading NaN is skipped: the first observation seeds the average.
  ema<double> f(0.5);
  f.push(qnan);
  CHECK(std::isnan(f.value()));
  f.push(7.0);
  CHECK(f.value() == 7.0);
}

TEST_CASE("ema talib convention matches TA-Lib's TA_EMA recurrence", "[ema][talib]") {
  std::mt19937_64 rng(99);
  std::normal_distribution<double> n(100.0, 5.0);
  std::vector<double> xs(600);
  for (auto& x : xs) {
    x = n(rng);
  }
  for (const std::size_t period : {1U, 2U, 5U, 30U, 200U}) {
    const auto want = talib_ema(xs, period);
    auto e = ema<double>::from_span(static_cast<double>(period), ema_convention::talib);
    CHECK(e.period() == period);
    double worst = 0.0;
    for (std::size_t i = 0; i < xs.size(); ++i) {
      e.push(xs[i]);
      INFO("period " << period << " index " << i);
      if (i + 1 < period) {
        REQUIRE(std::isnan(e.value()));  // TA-Lib's lookback: no output yet
      } else {
        REQUIRE(close_rel(e.value(), want[i], 1e-12));
        worst = std::max(worst, std::fabs(e.value() - want[i]) / std::fabs(want[i]));
      }
    }
    std::cout << "ema talib period " << period << " vs TA_EMA recurrence: max rel err " << worst << "\n";
  }
  // Seeded with the SMA, not with the first sample: the two conventions differ.
  auto t = ema<double>::from_span(3, ema_convention::talib);
  for (double x : {1.0, 2.0, 6.0}) {
    t.push(x);
  }
  CHECK(t.value() == 3.0);
  t.push(5.0);
  CHECK(t.value() == 4.0);  // (5 − 3)·0.5 + 3
}

TEST_CASE("ema batch push equals the scalar loop — float tracks double", "[ema][batch]") {
  std::vector<double> xs;
  for (int i = 0; i < 500; ++i) {
    xs.push_back(std::sin(i * 0.1) * 4.0 + 10.0);
  }
  auto a = ema<double>::from_span(20, ema_convention::pandas_adjust_true);
  auto b = a;
  for (double x : xs) {
    a(x);
  }
  b.push(xs.begin(), xs.end());
  CHECK(a.value() == b.value());
  auto f = ema<float>::from_span(20.0F, ema_convention::pandas_adjust_true);
  f.push(xs.begin(), xs.end());
  CHECK(static_cast<double>(f.value()) == Approx(a.value()).epsilon(1e-5));
}

TEST_CASE("ema is usable in constant expressions", "[ema][constexpr]") {
  constexpr double v = [] {
    ema<double> e(0.5);
    e.push(2.0);
    e.push(4.0);
    return e.value();
  }();
  STATIC_REQUIRE(v == 3.0);
}
