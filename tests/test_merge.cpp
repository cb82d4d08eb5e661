// Splitting a stream at every point and merging the two halves equals one pass (relative 1e-12).
#include <catch2/catch.hpp>

#include <streamstats/autocorrelation.hpp>
#include <streamstats/extrema.hpp>
#include <streamstats/mean.hpp>
#include <streamstats/moments.hpp>
#include <streamstats/variance.hpp>
#include <support/relative.hpp>

#include <random>
#include <vector>

using namespace streamstats;
using streamstats_test::close_rel;

namespace {
std::vector<double> data() {
  std::mt19937_64 rng(11);
  std::lognormal_distribution<double> d(0.0, 1.0);  // skewed, so M3/M4 merges are exercised
  std::vector<double> x(300);
  for (auto& v : x) {
    v = 1e3 + d(rng);
  }
  return x;
}

template <class A>
void split_everywhere(const std::vector<double>& x, A& whole, std::vector<A>& merged) {
  for (double v : x) {
    whole.push(v);
  }
  for (std::size_t cut = 0; cut <= x.size(); ++cut) {
    A a;
    A b;
    for (std::size_t i = 0; i < x.size(); ++i) {
      (i < cut ? a : b).push(x[i]);
    }
    a.merge(b);
    merged.push_back(a);
  }
}
}  // namespace

TEST_CASE("mean: merged halves equal one pass at every split", "[merge][mean]") {
  const auto x = data();
  mean<double> whole;
  std::vector<mean<double>> parts;
  split_everywhere(x, whole, parts);
  for (const auto& p : parts) {
    REQUIRE(p.count() == whole.count());
    REQUIRE(close_rel(p.value(), whole.value(), 1e-12));
  }
}

TEST_CASE("variance: merged halves equal one pass at every split", "[merge][variance]") {
  const auto x = data();
  variance<double> whole;
  std::vector<variance<double>> parts;
  split_everywhere(x, whole, parts);
  for (const auto& p : parts) {
    REQUIRE(p.count() == whole.count());
    REQUIRE(close_rel(p.mean(), whole.mean(), 1e-12));
    REQUIRE(close_rel(p.sample_variance(), whole.sample_variance(), 1e-12));
  }
}

TEST_CASE("moments: merged halves equal one pass at every split", "[merge][moments]") {
  const auto x = data();
  moments<double> whole;
  std::vector<moments<double>> parts;
  split_everywhere(x, whole, parts);
  for (const auto& p : parts) {
    REQUIRE(close_rel(p.mean(), whole.mean(), 1e-12));
    REQUIRE(close_rel(p.sample_variance(), whole.sample_variance(), 1e-12));
    REQUIRE(close_rel(p.skewness(), whole.skewness(), 1e-12));
    REQUIRE(close_rel(p.kurtosis(), whole.kurtosis(), 1e-12));
  }
}

TEST_CASE("extrema: merged halves equal one pass at every split", "[merge][extrema]") {
  const auto x = data();
  extrema<double> whole;
  std::vector<extrema<double>> parts;
  split_everywhere(x, whole, parts);
  for (const auto& p : parts) {
    REQUIRE(p.min() == whole.min());
    REQUIRE(p.max() == whole.max());
  }
}

TEST_CASE("autocorrelation: merged halves equal one pass at every split", "[merge][autocorrelation]") {
  const auto x = data();
  autocorrelation<double> whole;
  std::vector<autocorrelation<double>> parts;
  split_everywhere(x, whole, parts);
  // r(1) = D / M2 is a ratio whose natural scale is 1 (|r| ≤ 1), and here it is near 0.02: its error
  // is bounded relative to that scale, i.e. |Δr| ≤ 1e-12, not relative to r itself.
  for (const auto& p : parts) {
    REQUIRE(p.count() == whole.count());
    REQUIRE(p.value() == Approx(whole.value()).margin(1e-12));
    REQUIRE(close_rel(p.sample_variance(), whole.sample_variance(), 1e-12));
  }
}

TEST_CASE("merging many shards in a tree equals one pass", "[merge][variance]") {
  const auto x = data();
  std::vector<variance<double>> shards(7);
  for (std::size_t i = 0; i < x.size(); ++i) {
    shards[i % shards.size()].push(x[i]);  // interleaved: order does not matter for variance
  }
  variance<double> whole;
  whole.push(x.begin(), x.end());
  variance<double> left = shards[0];
  left += shards[1];
  left += shards[2];
  variance<double> right = shards[3];
  for (std::size_t i = 4; i < shards.size(); ++i) {
    right += shards[i];
  }
  left += right;
  CHECK(close_rel(left.sample_variance(), whole.sample_variance(), 1e-12));
}
