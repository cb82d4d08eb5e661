// Windows whose length is chosen at run time, up to a compile-time capacity: sma, rolling_variance
// and rolling_extrema constructed with a length w ≤ N. References: tests/data/pandas/runtime_windows.csv
// (tests/gen_runtime_windows_reference.py: pandas rolling(w, min_periods=1) conventions, exact
// rational mean and variance, pandas' min/max).
#include <catch2/catch.hpp>

#include <streamstats/rolling_extrema.hpp>
#include <streamstats/rolling_variance.hpp>
#include <streamstats/sma.hpp>
#include <streamstats/state.hpp>
#include <support/csv.hpp>
#include <support/relative.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

using namespace streamstats;
using streamstats_test::close_rel;
using streamstats_test::load_pandas_csv;

namespace {

constexpr std::size_t capacity = 1024;
const std::size_t windows[] = {1, 2, 5, 64, 300, 1000};

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Largest |x| among the samples that were in the window during the last 2w pushes: the scale of the
// sums a moving mean subtracts from (its rounding error is relative to them, not to the mean).
double recent_scale(const std::vector<double>& x, std::size_t i, std::size_t w) {
  const std::size_t first = i + 1 >= 2 * w ? i + 1 - 2 * w : 0;
  double s = 0;
  for (std::size_t k = first; k <= i; ++k) {
    s = std::max(s, std::fabs(x[k]));
  }
  return s;
}

template <class Window>
void expect_invalid_window(std::size_t w) {
  try {
    Window a(w);
    FAIL("window " << w << " was accepted");
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK(what.find("window") != std::string::npos);
    CHECK(what.find(std::to_string(w)) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("run-time windows match pandas rolling(w, min_periods=1) for every length up to the capacity",
          "[runtime_windows]") {
  const auto t = load_pandas_csv("runtime_windows.csv");
  const auto& x = t["x"];
  REQUIRE(x.size() == 3000);
  for (const std::size_t w : windows) {
    const std::string suffix = "_" + std::to_string(w);
    const auto& mean_ref = t["mean" + suffix];
    const auto& var_ref = t["var" + suffix];
    const auto& min_ref = t["min" + suffix];
    const auto& max_ref = t["max" + suffix];
    sma<double, capacity> s(w);
    sma<double, capacity, window_sum::compensated> sc(w);
    rolling_variance<double, capacity> v(w);
    rolling_extrema<double, capacity> e(w);
    REQUIRE(s.window() == w);
    REQUIRE(v.window() == w);
    REQUIRE(e.window() == w);
    double worst_mean = 0;
    double worst_var = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      s.push(x[i]);
      sc.push(x[i]);
      v.push(x[i]);
      e.push(x[i]);
      INFO("w = " << w << ", sample " << i);
      REQUIRE(s.size() == std::min(i + 1, w));
      REQUIRE(v.size() == std::min(i + 1, w));
      REQUIRE(e.size() == std::min(i + 1, w));
      REQUIRE(s.full() == (i + 1 >= w));
      // Means: a moving sum's error is relative to the samples it added and subtracted (up to 1e6
      // here while the window mean is ~0.3): bounded by 1e-14 of the recent scale, and at most
      // 1e-13 relative to the mean itself whenever the window does not straddle a level change.
      const double scale = recent_scale(x, i, w);
      const double tol_mean = 1e-14 * scale;
      REQUIRE(std::fabs(s.value() - mean_ref[i]) <= tol_mean);
      REQUIRE(std::fabs(sc.value() - mean_ref[i]) <= tol_mean);
      REQUIRE(std::fabs(v.mean() - mean_ref[i]) <= tol_mean);
      // Variances: relative to the exact value (rolling_variance recomputes exactly on cancellation,
      // so this holds even after the 1e6 stretch leaves the window, where pandas is off by 88×).
      REQUIRE(close_rel(v.sample_variance(), var_ref[i], 1e-12));
      if (!std::isnan(var_ref[i]) && var_ref[i] != 0) {
        worst_var = std::max(worst_var, std::fabs(v.sample_variance() - var_ref[i]) / var_ref[i]);
      }
      if (mean_ref[i] != 0) {
        worst_mean = std::max(worst_mean, std::fabs(s.value() - mean_ref[i]) / std::fabs(mean_ref[i]));
      }
      REQUIRE(e.min() == min_ref[i]);
      REQUIRE(e.max() == max_ref[i]);
    }
    std::cout << "runtime window w=" << w << ": worst relative error, sma " << worst_mean
              << ", rolling_variance " << worst_var << "\n";
  }
}

TEST_CASE("a run-time window of length N gives bit-identical results to the compile-time window N",
          "[runtime_windows]") {
  const auto t = load_pandas_csv("runtime_windows.csv");
  const auto& x = t["x"];
  sma<double, capacity> s(64);
  sma<double, 64> s64;
  rolling_variance<double, capacity> v(64);
  rolling_variance<double, 64> v64;
  rolling_extrema<double, capacity> e(64);
  rolling_extrema<double, 64> e64;
  rolling_variance<double, capacity> v1(1);
  rolling_variance<double, 1> v1c;
  for (std::size_t i = 0; i < x.size(); ++i) {
    s.push(x[i]);
    s64.push(x[i]);
    v.push(x[i]);
    v64.push(x[i]);
    e.push(x[i]);
    e64.push(x[i]);
    v1.push(x[i]);
    v1c.push(x[i]);
    INFO("sample " << i);
    REQUIRE(same_bits(s.value(), s64.value()));
    REQUIRE(same_bits(v.mean(), v64.mean()));
    REQUIRE(same_bits(v.sample_variance(), v64.sample_variance()));
    REQUIRE(same_bits(v.population_variance(), v64.population_variance()));
    REQUIRE(same_bits(e.min(), e64.min()));
    REQUIRE(same_bits(e.max(), e64.max()));
    REQUIRE(std::isnan(v1.sample_variance()));
    REQUIRE(std::isnan(v1c.sample_variance()));
    REQUIRE(v1.population_variance() == 0.0);
  }
}

TEST_CASE("a window length outside [1, N] throws std::invalid_argument naming the parameter",
          "[runtime_windows]") {
  expect_invalid_window<sma<double, 16>>(0);
  expect_invalid_window<sma<double, 16>>(17);
  expect_invalid_window<sma<double, 16, window_sum::compensated>>(100000);
  expect_invalid_window<rolling_variance<double, 16>>(0);
  expect_invalid_window<rolling_variance<double, 16>>(17);
  expect_invalid_window<rolling_extrema<double, 16>>(0);
  expect_invalid_window<rolling_extrema<double, 16>>(17);
  CHECK_NOTHROW(sma<double, 16>(16));
  CHECK_NOTHROW(rolling_variance<double, 16>(1));
  CHECK_NOTHROW(rolling_extrema<double, 16>(16));
}

TEST_CASE("reset() keeps a run-time window length — capacity() stays the compile-time N",
          "[runtime_windows]") {
  sma<double, 32> s(3);
  rolling_variance<double, 32> v(3);
  rolling_extrema<double, 32> e(3);
  STATIC_REQUIRE(sma<double, 32>::capacity() == 32);
  STATIC_REQUIRE(rolling_variance<double, 32>::capacity() == 32);
  STATIC_REQUIRE(rolling_extrema<double, 32>::capacity() == 32);
  for (const double xv : {100.0, 1.0, 2.0, 3.0}) {
    s.push(xv);
    v.push(xv);
    e.push(xv);
  }
  CHECK(s.value() == 2.0);
  CHECK(v.sample_variance() == 1.0);
  CHECK(e.max() == 3.0);
  s.reset();
  v.reset();
  e.reset();
  CHECK(s.count() == 0);
  CHECK(std::isnan(s.value()));
  CHECK(std::isnan(v.mean()));
  CHECK(std::isnan(e.max()));
  CHECK(s.window() == 3);
  CHECK(v.window() == 3);
  CHECK(e.window() == 3);
  for (const double xv : {100.0, 4.0, 5.0, 6.0}) {
    s.push(xv);
    v.push(xv);
    e.push(xv);
  }
  CHECK(s.value() == 5.0);
  CHECK(v.sample_variance() == 1.0);
  CHECK(e.max() == 6.0);
  CHECK(e.min() == 4.0);
  // A NaN leaves a run-time window after w pushes, not after N.
  s.push(std::nan(""));
  e.push(std::nan(""));
  v.push(std::nan(""));
  CHECK(std::isnan(s.value()));
  CHECK(std::isnan(e.min()));
  CHECK(std::isnan(v.mean()));
  for (const double xv : {7.0, 8.0, 9.0}) {
    s.push(xv);
    v.push(xv);
    e.push(xv);
  }
  CHECK(s.value() == 8.0);
  CHECK(v.sample_variance() == 1.0);
  CHECK(e.min() == 7.0);
  // The default-constructed window is the capacity.
  CHECK(sma<double, 32>{}.window() == 32);
  CHECK(rolling_variance<double, 32>{}.window() == 32);
  CHECK(rolling_extrema<double, 32>{}.window() == 32);
}

TEST_CASE(
    "a run-time window length is saved with the state and restored — the restored window continues "
    "bit for bit",
    "[runtime_windows][state]") {
  const auto t = load_pandas_csv("runtime_windows.csv");
  const auto& x = t["x"];
  sma<double, 1024> s(300);
  rolling_variance<double, 1024> v(300);
  rolling_extrema<double, 1024> e(300);
  for (std::size_t i = 0; i < 1500; ++i) {
    s.push(x[i]);
    v.push(x[i]);
    e.push(x[i]);
  }
  auto s2 = load_state<sma<double, 1024>>(save_state(s));
  auto v2 = load_state<rolling_variance<double, 1024>>(save_state(v));
  auto e2 = load_state<rolling_extrema<double, 1024>>(save_state(e));
  CHECK(s2.window() == 300);
  CHECK(v2.window() == 300);
  CHECK(e2.window() == 300);
  // loading into a target of another window length takes the saved one
  rolling_variance<double, 1024> other(7);
  REQUIRE(load_state(save_state(v), other) == state_errc::ok);
  CHECK(other.window() == 300);
  for (std::size_t i = 1500; i < x.size(); ++i) {
    s.push(x[i]);
    v.push(x[i]);
    e.push(x[i]);
    s2.push(x[i]);
    v2.push(x[i]);
    e2.push(x[i]);
    other.push(x[i]);
    INFO("sample " << i);
    REQUIRE(same_bits(s.value(), s2.value()));
    REQUIRE(same_bits(v.sample_variance(), v2.sample_variance()));
    REQUIRE(same_bits(v.sample_variance(), other.sample_variance()));
    REQUIRE(same_bits(e.min(), e2.min()));
    REQUIRE(same_bits(e.max(), e2.max()));
  }
}
