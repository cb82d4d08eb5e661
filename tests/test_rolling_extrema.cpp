#include <catch2/catch.hpp>

#include <streamstats/rolling_extrema.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <vector>

using streamstats::rolling_extrema;

namespace {
constexpr double qnan = std::numeric_limits<double>::quiet_NaN();
constexpr double inf = std::numeric_limits<double>::infinity();

// Reference: a direct O(N) scan of the last N samples after every push.
template <std::size_t N>
void check_against_scan(const std::vector<double>& xs) {
  rolling_extrema<double, N> r;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    r.push(xs[i]);
    const std::size_t first = i + 1 > N ? i + 1 - N : 0;
    const auto [lo, hi] = std::minmax_element(xs.begin() + static_cast<std::ptrdiff_t>(first),
                                              xs.begin() + static_cast<std::ptrdiff_t>(i + 1));
    INFO("N=" << N << " push " << i);
    REQUIRE(r.min() == *lo);
    REQUIRE(r.max() == *hi);
    const double range = *hi - *lo;  // NaN for a window holding only +inf (inf − inf)
    REQUIRE((r.range() == range || (std::isnan(r.range()) && std::isnan(range))));
    REQUIRE(r.size() == std::min(i + 1, N));
  }
}

template <std::size_t... Ns>
void check_windows(const std::vector<double>& xs) {
  (check_against_scan<Ns>(xs), ...);
}
}  // namespace

TEST_CASE("rolling_extrema is NaN when empty and reports its window", "[rolling_extrema]") {
  rolling_extrema<double, 3> r;
  CHECK(std::isnan(r.min()));
  CHECK(std::isnan(r.max()));
  CHECK(std::isnan(r.value()));
  CHECK(r.count() == 0);
  CHECK_FALSE(r.full());
  STATIC_REQUIRE(rolling_extrema<double, 3>::capacity() == 3);
  r.push(2.0);
  CHECK(r.min() == 2.0);
  CHECK(r.max() == 2.0);
  CHECK(r.value() == 0.0);
}

TEST_CASE("rolling_extrema equals a direct scan of the window", "[rolling_extrema]") {
  std::mt19937_64 rng(5);
  SECTION("random data with many ties") {
    std::uniform_int_distribution<int> u(0, 20);
    std::vector<double> xs(5000);
    for (auto& x : xs) {
      x = u(rng) * 0.5;
    }
    check_windows<1, 2, 3, 16, 64, 10000>(xs);  // 10000: longer than the stream
  }
  SECTION("increasing, decreasing and sawtooth sequences (the wedge's worst cases)") {
    std::vector<double> xs;
    for (int i = 0; i < 500; ++i) {
      xs.push_back(i);
    }
    for (int i = 500; i > -500; --i) {
      xs.push_back(i);
    }
    for (int i = 0; i < 2000; ++i) {
      xs.push_back(i % 37 - (i % 11) * 2.5);
    }
    check_windows<1, 2, 7, 100, 5000>(xs);
  }
  SECTION("normal noise with infinities as ordinary values") {
    std::normal_distribution<double> n(0.0, 1.0);
    std::vector<double> xs(3000);
    for (auto& x : xs) {
      x = n(rng);
    }
    xs[100] = inf;
    xs[1000] = -inf;
    check_windows<1, 5, 50, 333>(xs);
  }
}

TEST_CASE("rolling_extrema is NaN while a NaN is in the window, then recovers",
          "[rolling_extrema][nonfinite]") {
  rolling_extrema<double, 3> r;
  r.push(5.0);
  r.push(qnan);
  CHECK(std::isnan(r.min()));
  CHECK(std::isnan(r.max()));
  r.push(1.0);
  r.push(9.0);  // {nan, 1, 9}
  CHECK(std::isnan(r.max()));
  r.push(4.0);  // {1, 9, 4}
  CHECK(r.min() == 1.0);
  CHECK(r.max() == 9.0);
  r.push(qnan);
  r.push(qnan);
  r.push(qnan);  // only NaN in the window
  CHECK(std::isnan(r.min()));
  r.push(2.0);
  r.push(3.0);
  r.push(-1.0);  // {2, 3, -1}
  CHECK(r.min() == -1.0);
  CHECK(r.max() == 3.0);
  CHECK(r.count() == 11);
}

TEST_CASE("rolling_extrema batch push equals the scalar loop — reset keeps the window",
          "[rolling_extrema][batch]") {
  std::vector<double> xs;
  for (int i = 0; i < 300; ++i) {
    xs.push_back(std::sin(i * 0.3) * 10.0);
  }
  rolling_extrema<double, 25> a;
  rolling_extrema<double, 25> b;
  for (double x : xs) {
    a(x);
  }
  b.push(xs.begin(), xs.end());
  CHECK(a.min() == b.min());
  CHECK(a.max() == b.max());
  b.reset();
  CHECK(b.count() == 0);
  CHECK(std::isnan(b.min()));
  b.push(1.5f);
  CHECK(b.max() == 1.5);
}

TEST_CASE("rolling_extrema is usable in constant expressions", "[rolling_extrema][constexpr]") {
  constexpr double range = [] {
    rolling_extrema<double, 2> r;
    r.push(10.0);
    r.push(1.0);
    r.push(4.0);
    return r.range();
  }();
  STATIC_REQUIRE(range == 3.0);
}
