// ddsketch<T, Bins>: the relative-error guarantee against the exact lower quantile (std::nth_element
// on a copy of the samples: rank ⌊q·(n − 1)⌋, numpy.quantile(method='lower')), exact merging, the
// collapse of the lowest bins, zero and non-finite input.
#include <catch2/catch.hpp>

#include <streamstats/ddsketch.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iostream>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

using streamstats::ddsketch;

namespace {

constexpr double qs[] = {0.001, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999};
constexpr double inf = std::numeric_limits<double>::infinity();

// The exact lower quantile: the sample of 0-based rank ⌊q·(n − 1)⌋ in sorted order.
double exact_quantile(std::vector<double> xs, double q) {
  const auto r = static_cast<std::size_t>(q * static_cast<double>(xs.size() - 1));
  std::nth_element(xs.begin(), xs.begin() + static_cast<std::ptrdiff_t>(r), xs.end());
  return xs[r];
}

// 10⁶ samples of each distribution (seeded; the transforms are written out so that every standard
// library produces the same numbers from mt19937_64's output).
std::vector<double> make(const std::string& name, std::size_t n = 1'000'000) {
  std::mt19937_64 rng(20261202);
  const auto u01 = [&] { return (static_cast<double>(rng() >> 11) + 0.5) * 0x1p-53; };  // (0, 1)
  const auto normal = [&] { return std::sqrt(-2 * std::log(u01())) * std::cos(6.283185307179586 * u01()); };
  std::vector<double> xs(n);
  for (auto& x : xs) {
    if (name == "normal") {
      x = 100 + 10 * normal();  // offset so that every sample is positive (> 40 in practice)
    } else if (name == "lognormal") {
      x = std::exp(normal());
    } else if (name == "pareto") {
      x = std::pow(u01(), -1 / 1.5);  // Pareto(x_m = 1, shape 1.5): infinite variance
    } else if (name == "bimodal") {
      x = u01() < 0.3 ? 10 + normal() : 1000 + 50 * normal();
    } else {  // mixed sign, values down to ~1e-6 in magnitude
      x = 5 * normal() - 1;
    }
  }
  return xs;
}

}  // namespace

TEST_CASE("ddsketch quantiles are within alpha relative of the exact lower quantile on 10^6 samples",
          "[ddsketch]") {
  for (const char* name : {"normal", "lognormal", "pareto", "bimodal", "mixed"}) {
    const auto xs = make(name);
    ddsketch<double, 1024> s(0.01);
    for (const double x : xs) {
      s.push(x);
    }
    REQUIRE(s.count() == xs.size());
    REQUIRE_FALSE(s.collapsed());
    double worst = 0;
    for (const double q : qs) {
      const double exact = exact_quantile(xs, q);
      const double est = s.quantile(q);
      INFO(name << ": q = " << q << ", exact " << exact << ", estimate " << est);
      CHECK(std::fabs(est - exact) <= 0.01 * std::fabs(exact));
      worst = std::max(worst, std::fabs(est - exact) / std::fabs(exact));
    }
    CHECK(s.quantile(0) == *std::min_element(xs.begin(), xs.end()));
    CHECK(s.quantile(1) == *std::max_element(xs.begin(), xs.end()));
    std::cout << "ddsketch<double, 1024>(0.01), " << name << ": worst relative error " << worst << "\n";
  }
}

TEST_CASE("ddsketch keeps the guarantee at every rank and at a small alpha", "[ddsketch]") {
  // every 1/1000 quantile of lognormal data, α = 0.001 (8192 bins cover its range, 2^13)
  const auto xs = make("lognormal", 200'000);
  ddsketch<double, 8192> s(0.001);
  s.push(xs.begin(), xs.end());
  std::vector<double> sorted = xs;
  std::sort(sorted.begin(), sorted.end());
  double worst = 0;
  for (int i = 0; i <= 1000; ++i) {
    const double q = i / 1000.0;
    const double exact = sorted[static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1))];
    const double est = s.quantile(q);
    INFO("q = " << q);
    REQUIRE(std::fabs(est - exact) <= 0.001 * exact);
    worst = std::max(worst, std::fabs(est - exact) / exact);
  }
  REQUIRE_FALSE(s.collapsed());
  std::cout << "ddsketch<double, 8192>(0.001), lognormal, 1001 quantiles: worst relative error " << worst
            << "\n";
  CHECK(worst > 0.0005);  // the bins are used to their width: the test would see a 2α error
}

TEST_CASE("16 merged ddsketch shards have bit-identical bins to one pass", "[ddsketch][merge]") {
  for (const char* name : {"normal", "pareto", "mixed"}) {
    const auto xs = make(name, 200'000);
    ddsketch<double, 1024> one(0.01);
    ddsketch<double, 1024> shards[16];
    for (std::size_t i = 0; i < xs.size(); ++i) {
      one.push(xs[i]);
      shards[(i * 7919) % 16].push(xs[i]);  // scattered, not contiguous
    }
    ddsketch<double, 1024> merged(0.01);
    for (int k = 15; k >= 0; --k) {
      merged += shards[k];
    }
    INFO(name);
    CHECK(merged == one);
    for (const double q : qs) {
      CHECK(merged.quantile(q) == one.quantile(q));
    }
  }
  // and when the stores collapse: 64 bins cannot hold 1e-6 .. 1e6, in whatever order the shards came
  std::vector<double> xs;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 50'000; ++i) {
    xs.push_back(std::pow(10.0, static_cast<double>(rng() % 12001) / 1000.0 - 6.0) * (i % 3 == 0 ? -1 : 1));
  }
  ddsketch<double, 64> one(0.01);
  ddsketch<double, 64> shards[16];
  for (std::size_t i = 0; i < xs.size(); ++i) {
    one.push(xs[i]);
    shards[i % 16].push(xs[i]);
  }
  REQUIRE(one.collapsed());
  ddsketch<double, 64> forward(0.01);
  ddsketch<double, 64> tree[8];
  for (int k = 0; k < 16; ++k) {
    forward.merge(shards[k]);
    tree[k / 2] += shards[k];
  }
  CHECK(forward == one);
  ddsketch<double, 64> root;
  for (int k = 7; k >= 0; --k) {
    root += tree[k];
  }
  CHECK(root == one);
}

TEST_CASE("ddsketch collapse: lowest bins fold, upper quantiles keep the guarantee", "[ddsketch][collapse]") {
  // α = 0.01: 64 keys span a ratio of about 2^(64·0.02/0.7) ≈ 3.5
  ddsketch<double, 64> s(0.01);
  std::vector<double> xs;
  for (int i = 0; i < 1000; ++i) {
    xs.push_back(1.0 + i * 0.009);  // 1 .. 10: wider than 64 bins hold
  }
  for (const double x : xs) {
    s.push(x);
  }
  REQUIRE(s.collapsed());
  CHECK(s.quantile(0) == 1.0);  // exact min, even collapsed
  CHECK(s.quantile(1) == xs.back());
  // the top of the range keeps α; the collapsed bottom answers the lowest surviving bin (too large)
  for (const double q : {0.7, 0.9, 0.99, 0.999}) {
    const double exact = exact_quantile(xs, q);
    INFO("q = " << q);
    CHECK(std::fabs(s.quantile(q) - exact) <= 0.01 * exact);
  }
  const double low = exact_quantile(xs, 0.01);
  CHECK(s.quantile(0.01) > low * 1.01);

  SECTION("a large upward jump after the collapse moves the window up; the max stays exact") {
    s.push(1e300);
    s.push(2e300);
    CHECK(s.count() == 1002);
    CHECK(s.quantile(1) == 2e300);
    CHECK(std::fabs(s.quantile(0.9995) - 1e300) <= 0.01 * 1e300);  // rank ⌊0.9995·1001⌋ = 1000
    // everything earlier folded into the lowest admissible bin, still ≥ the exact min, and every
    // answer stays within [min, max]
    const double q5 = s.quantile(0.5);
    CHECK(q5 >= 1.0);
    CHECK(q5 <= 2e300);
    // and a small value after that: it joins the lowest bin, count and min exact
    s.push(0.5);
    CHECK(s.quantile(0) == 0.5);
    CHECK(s.count() == 1003);
  }
  SECTION("infinite input after a collapse is exact at the top and bottom ranks") {
    s.push(inf);
    s.push(-inf);
    CHECK(s.quantile(1) == inf);
    CHECK(s.quantile(0) == -inf);
    CHECK(std::fabs(s.quantile(0.99) - exact_quantile(xs, 0.99 * 1001 / 999)) <= 0.01 * 10);
    CHECK(s.count() == 1002);
  }
}

TEST_CASE("ddsketch: zero, negative values, infinities and NaN", "[ddsketch]") {
  ddsketch<double, 256> s(0.02);
  CHECK(std::isnan(s.quantile(0.5)));
  CHECK(std::isnan(s.value()));
  CHECK(std::isnan(s.min()));
  for (const double x : {-3.0, -2.0, 0.0, -0.0, 1e-310, 5.0, 7.0}) {  // 1e-310: subnormal, counts as 0
    s.push(x);
  }
  CHECK(s.count() == 7);
  CHECK(s.zero_count() == 3);
  CHECK(s.quantile(0.5) == 0.0);                                 // rank 3: a zero
  CHECK(std::fabs(s.quantile(1.0 / 6) - (-2.0)) <= 0.02 * 2.0);  // rank 1
  CHECK(std::fabs(s.quantile(5.0 / 6) - 5.0) <= 0.02 * 5.0);     // rank 5
  CHECK(s.quantile(0) == -3.0);
  CHECK(s.quantile(1) == 7.0);
  s.push(std::nan(""));
  CHECK(s.count() == 7);
  CHECK(s.rejected() == 1);
  s.push(inf);
  s.push(inf);
  s.push(-inf);
  CHECK(s.count() == 10);
  CHECK(s.quantile(1) == inf);
  CHECK(s.quantile(0.9) == inf);  // rank 8 of 0..9: the first +Inf
  CHECK(s.quantile(0) == -inf);
  CHECK(s.quantile(0.1) == -inf);                             // rank ⌊0.1·9⌋ = 0
  CHECK(std::fabs(s.quantile(0.12) - (-3.0)) <= 0.02 * 3.0);  // rank ⌊1.08⌋ = 1
  CHECK(std::isnan(s.quantile(-0.1)));
  CHECK(std::isnan(s.quantile(1.5)));
  CHECK(std::isnan(s.quantile(std::nan(""))));
  s.reset();
  CHECK(s.count() == 0);
  CHECK(s.alpha() == 0.02);
  CHECK(std::isnan(s.quantile(0.5)));
  // float samples
  ddsketch<float, 256> f(0.05);
  for (int i = 1; i <= 100; ++i) {
    f.push(static_cast<float>(i));
  }
  CHECK(std::fabs(f.quantile(0.5f) - 50.0f) <= 0.05f * 50.0f);
}

TEST_CASE("ddsketch: alpha outside (0, 1) throws std::invalid_argument naming alpha", "[ddsketch]") {
  for (const double a : {0.0, -0.1, 1.0, 2.0, std::nan("")}) {
    try {
      ddsketch<double, 64> s(a);
      FAIL("alpha " << a << " accepted");
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()).find("alpha") != std::string::npos);
    }
  }
  CHECK(ddsketch<double, 64>{}.alpha() == 0.01);
}

TEST_CASE("ddsketch: merging sketches of different alpha keeps alpha_a + alpha_b", "[ddsketch][merge]") {
  const auto xs = make("lognormal", 100'000);
  ddsketch<double, 1024> a(0.01);
  ddsketch<double, 1024> b(0.005);
  for (std::size_t i = 0; i < xs.size(); ++i) {
    (i % 2 == 0 ? a : b).push(xs[i]);
  }
  a += b;
  CHECK(a.count() == xs.size());
  for (const double q : qs) {
    const double exact = exact_quantile(xs, q);
    INFO("q = " << q);
    CHECK(std::fabs(a.quantile(q) - exact) <= 0.015 * exact);
  }
}
