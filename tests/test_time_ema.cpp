#include <catch2/catch.hpp>

#include <streamstats/ema.hpp>
#include <streamstats/time_ema.hpp>
#include <support/csv.hpp>
#include <support/relative.hpp>

#include <chrono>
#include <cmath>
#include <cstddef>
#include <iostream>
#include <limits>
#include <ratio>
#include <stdexcept>

using streamstats::ema;
using streamstats::ema_convention;
using streamstats::time_ema;
using streamstats_test::close_rel;
using streamstats_test::load_pandas_csv;

namespace {
// A clock whose time points are nanoseconds since the epoch of the test data (pandas datetime64[ns]).
struct ns_clock {
  using rep = long long;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<ns_clock>;
  [[maybe_unused]] static constexpr bool is_steady = true;  // a Clock must say (clang: unused here)
  static time_point now() noexcept { return time_point{}; }
};
ns_clock::time_point at_ns(long long ns) { return ns_clock::time_point(std::chrono::nanoseconds(ns)); }
ns_clock::time_point at_s(double s) {
  return ns_clock::time_point(std::chrono::nanoseconds(static_cast<long long>(std::llround(s * 1e9))));
}
constexpr double qnan = std::numeric_limits<double>::quiet_NaN();
}  // namespace

TEST_CASE("time_ema equals pandas ewm(halflife, times).mean() on irregular times", "[time_ema][pandas]") {
  // 150 samples, gaps of 0 to 4 s (equal timestamps included), NaN at rows 60, 61 and 100, h = 2.5 s.
  const auto t = load_pandas_csv("times_ewm.csv");
  const auto& ts = t.integers.at("t_ns");
  const auto& x = t["x"];
  const auto& adj_t = t["mean_adjT"];
  const auto& adj_f = t["mean_adjF"];
  time_ema<double, ns_clock> a(std::chrono::milliseconds(2500));
  time_ema<double, ns_clock> f(std::chrono::milliseconds(2500), ema_convention::pandas_adjust_false);
  // The same stream at a 2023 epoch (1.7e18 ns): ticks are subtracted as integers before the
  // conversion to floating point, so the result is identical (pandas, which converts first, would
  // quantise its deltas to 256 ns there; the generator keeps its times small for that reason).
  time_ema<double, ns_clock> late(std::chrono::milliseconds(2500));
  constexpr long long epoch_2023 = 1'700'000'000'000'000'000LL;
  CHECK(a.convention() == ema_convention::pandas_adjust_true);
  double worst_t = 0.0;
  double worst_f = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    REQUIRE(a.push(x[i], at_ns(ts[i])));
    REQUIRE(f.push(x[i], at_ns(ts[i])));
    REQUIRE(late.push(x[i], at_ns(epoch_2023 + ts[i])));
    INFO("row " << i);
    REQUIRE(close_rel(a.value(), adj_t[i], 1e-12));
    REQUIRE(close_rel(f.value(), adj_f[i], 1e-12));
    REQUIRE(late.value() == a.value());
    worst_t = std::max(worst_t, std::fabs(a.value() - adj_t[i]) / std::fabs(adj_t[i]));
    worst_f = std::max(worst_f, std::fabs(f.value() - adj_f[i]) / std::fabs(adj_f[i]));
  }
  CHECK(a.count() == x.size());
  CHECK(a.rejected() == 0);
  std::cout << "time_ema vs pandas ewm(times) adjust=True: max rel err " << worst_t
            << "; adjust=False form: " << worst_f << "\n";
}

TEST_CASE("time_ema adjust=False on a regular grid is pandas ewm(alpha = 1 - 0.5^(dt/h), adjust=False)",
          "[time_ema][pandas]") {
  const auto t = load_pandas_csv("times_regular.csv");
  const auto& x = t["x"];
  const auto& want = t["mean"];
  time_ema<double, ns_clock> e(std::chrono::seconds(2), ema_convention::pandas_adjust_false);
  for (std::size_t i = 0; i < x.size(); ++i) {
    e.push(x[i], at_s(0.75 * static_cast<double>(i)));
    INFO("row " << i);
    REQUIRE(close_rel(e.value(), want[i], 1e-12));
  }
}

TEST_CASE("time_ema adjust=True on a regular grid is ema adjust=True with halflife h/dt", "[time_ema]") {
  // Weights 0.5^((t − t_i)/h) on a grid of step dt are (1 − α)^k with α = 1 − 0.5^(dt/h).
  time_ema<double, ns_clock> te(std::chrono::milliseconds(3000));
  auto e = ema<double>::from_halflife(3.0 / 0.5, ema_convention::pandas_adjust_true);
  for (int i = 0; i < 500; ++i) {
    const double x = std::sin(i * 0.05) * 3.0 + 1.0;
    te.push(x, at_s(0.5 * i));
    e.push(x);
    INFO("sample " << i);
    REQUIRE(close_rel(te.value(), e.value(), 1e-12));
  }
}

TEST_CASE("time_ema rejects out-of-order timestamps and leaves its state unchanged", "[time_ema]") {
  time_ema<double, ns_clock> e(std::chrono::seconds(1));
  CHECK(std::isnan(e.value()));
  CHECK(e.push(1.0, at_s(10.0)));
  CHECK(e.push(3.0, at_s(11.0)));
  const double before = e.value();
  CHECK_FALSE(e.push(100.0, at_s(10.5)));  // earlier than the last accepted timestamp
  CHECK(e.value() == before);
  CHECK(e.rejected() == 1);
  CHECK(e.count() == 2);
  CHECK(e.last_time() == at_s(11.0));
  CHECK(e.push(5.0, at_s(11.0)));  // equal timestamps are accepted
  CHECK(e.count() == 3);
  // Closed form, adjust=True: weights 0.5 (x=1 at t=10), 1 and 1 (t=11): (0.5 + 3 + 5) / 2.5.
  CHECK(e.value() == Approx(8.5 / 2.5).epsilon(1e-15));
  // A NaN is no observation, but its timestamp counts: the history decays to t = 12.
  CHECK(e(qnan, at_s(12.0)));
  CHECK(e.value() == Approx(8.5 / 2.5).epsilon(1e-15));
  CHECK(e.push(0.0, at_s(12.0)));
  CHECK(e.value() == Approx(0.5 * 8.5 / (0.5 * 2.5 + 1.0)).epsilon(1e-15));
  e.reset();
  CHECK(e.count() == 0);
  CHECK(e.rejected() == 0);
  CHECK(e.push(2.0, at_s(1.0)));  // any time is acceptable after reset
  CHECK(e.value() == 2.0);
  CHECK(e.halflife() == std::chrono::seconds(1));
  const auto later = at_s(2.0);
  STATIC_REQUIRE(noexcept(e.push(1.0, later)));
}

TEST_CASE("time_ema validates its parameters", "[time_ema][invalid]") {
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH((time_ema<double, ns_clock>(std::chrono::seconds(0))), Contains("halflife"));
  CHECK_THROWS_WITH((time_ema<double, ns_clock>(std::chrono::seconds(-1))), Contains("halflife"));
  CHECK_THROWS_WITH((time_ema<double, ns_clock>(std::chrono::seconds(1), ema_convention::talib)),
                    Contains("talib"));
}

TEST_CASE("time_ema works with the standard clocks", "[time_ema]") {
  time_ema<double> steady(std::chrono::milliseconds(100));
  const auto now = std::chrono::steady_clock::now();
  CHECK(steady.push(1.0, now));
  CHECK(steady.push(2.0, now + std::chrono::milliseconds(100)));
  CHECK(steady.value() == Approx((0.5 * 1.0 + 2.0) / 1.5).epsilon(1e-15));
  time_ema<float, std::chrono::system_clock> sys(std::chrono::seconds(60));
  CHECK(sys.push(4.0F, std::chrono::system_clock::now()));
  CHECK(sys.value() == 4.0F);
}
