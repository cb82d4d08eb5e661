// weighted_mean and weighted_variance against NumPy (tests/gen_weighted_reference.py writes
// tests/data/pandas/weighted_{samples,reference}.csv: numpy.average, numpy.cov with aweights /
// fweights / bias=True, in exact rational arithmetic that NumPy was checked against).
#include <catch2/catch.hpp>

#include <streamstats/variance.hpp>
#include <streamstats/weighted_mean.hpp>
#include <streamstats/weighted_variance.hpp>
#include <support/csv.hpp>
#include <support/relative.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <iostream>
#include <limits>
#include <map>
#include <vector>

using namespace streamstats;
using streamstats_test::close_rel;
using streamstats_test::load_pandas_csv;

namespace {

struct weighted_set {
  std::vector<double> x;
  std::vector<double> w;
};

std::map<int, weighted_set> load_sets() {
  const auto t = load_pandas_csv("weighted_samples.csv");
  std::map<int, weighted_set> sets;
  for (std::size_t i = 0; i < t.rows(); ++i) {
    auto& s = sets[static_cast<int>(t["set"][i])];
    s.x.push_back(t["x"][i]);
    s.w.push_back(t["w"][i]);
  }
  return sets;
}

constexpr double qnan = std::numeric_limits<double>::quiet_NaN();
constexpr double pinf = std::numeric_limits<double>::infinity();
constexpr double qinf = pinf;

}  // namespace

TEST_CASE("weighted_mean and weighted_variance match numpy.average and numpy.cov (aweights, fweights, bias)",
          "[weighted]") {
  const auto sets = load_sets();
  REQUIRE(sets.size() == 5);
  const auto ref = load_pandas_csv("weighted_reference.csv");
  double worst_mean = 0;
  double worst_var = 0;
  for (std::size_t r = 0; r < ref.rows(); ++r) {
    const int id = static_cast<int>(ref["set"][r]);
    const auto n = static_cast<std::size_t>(ref["n"][r]);
    const auto& s = sets.at(id);
    weighted_mean<double> m;
    weighted_variance<double> v;
    double abs_sum = 0;  // Σw|x|, for the mean's condition: its error is relative to Σw|x|/W
    for (std::size_t i = 0; i < n; ++i) {
      REQUIRE(m.push(s.x[i], s.w[i]));
      REQUIRE(v.push(s.x[i], s.w[i]));
      abs_sum += s.w[i] * std::fabs(s.x[i]);
    }
    INFO("set " << id << ", first " << n << " samples");
    const double mean_tol = 1e-14 * std::max(std::fabs(ref["mean"][r]), abs_sum / v.sum_of_weights());
    // Set 2 is offset by 1e9 with σ = 1: without the shift the mean's rounding (ulp(1e9) ≈ 1.2e-7)
    // would reach the variance at ~1e-7 relative.
    CHECK(std::fabs(m.mean() - ref["mean"][r]) <= mean_tol);
    CHECK(std::fabs(v.mean() - ref["mean"][r]) <= mean_tol);
    if (id == 2) {
      // offset data: the means are within 4 ulp of the exact value (ulp(1e9) ≈ 1.2e-7): the shift
      // keeps the sums' error O(σ·eps); unshifted sums of 1e9-sized terms drift by ~1e-6 here.
      const double ulp = std::nextafter(ref["mean"][r], qinf) - ref["mean"][r];
      CHECK(std::fabs(m.mean() - ref["mean"][r]) <= 4 * ulp);
      CHECK(std::fabs(v.mean() - ref["mean"][r]) <= 4 * ulp);
    }
    CHECK(close_rel(v.population_variance(), ref["pvar"][r], 1e-12));
    CHECK(close_rel(v.reliability_variance(), ref["rvar"][r], 1e-12));
    CHECK(close_rel(v.value(), ref["rvar"][r], 1e-12));
    if (!std::isnan(ref["fvar"][r])) {
      CHECK(close_rel(v.frequency_variance(), ref["fvar"][r], 1e-12));
    }
    worst_mean = std::max(worst_mean, std::fabs(v.mean() - ref["mean"][r]) / (mean_tol * 1e14));
    if (ref["pvar"][r] > 0) {
      worst_var = std::max(worst_var, std::fabs(v.population_variance() - ref["pvar"][r]) / ref["pvar"][r]);
    }
  }
  std::cout << "weighted vs NumPy (exact): worst error, mean (relative to Σw|x|/W) " << worst_mean
            << ", population variance (relative) " << worst_var << "\n";
}

TEST_CASE("16 merged shards equal one pass and NumPy's values", "[weighted][merge]") {
  const auto sets = load_sets();
  const auto ref = load_pandas_csv("weighted_reference.csv");
  for (const auto& [id, s] : sets) {
    const std::size_t n = s.x.size();
    weighted_mean<double> one_m;
    weighted_variance<double> one_v;
    double abs_sum = 0;
    weighted_mean<double> shard_m[16];
    weighted_variance<double> shard_v[16];
    for (std::size_t i = 0; i < n; ++i) {
      one_m.push(s.x[i], s.w[i]);
      one_v.push(s.x[i], s.w[i]);
      abs_sum += s.w[i] * std::fabs(s.x[i]);
      const std::size_t k = (i * 16) / n;  // contiguous shards of a stream
      shard_m[k].push(s.x[i], s.w[i]);
      shard_v[k].push(s.x[i], s.w[i]);
    }
    weighted_mean<double> merged_m;
    weighted_variance<double> merged_v;
    for (std::size_t k = 0; k < 16; ++k) {
      merged_m += shard_m[k];
      merged_v.merge(shard_v[k]);
    }
    INFO("set " << id);
    CHECK(merged_v.count() == one_v.count());
    CHECK(close_rel(merged_v.sum_of_weights(), one_v.sum_of_weights(), 1e-14));
    CHECK(close_rel(merged_v.sum_of_squared_weights(), one_v.sum_of_squared_weights(), 1e-14));
    const double mean_tol = 1e-14 * abs_sum / one_v.sum_of_weights();
    CHECK(std::fabs(merged_m.mean() - one_m.mean()) <= mean_tol);
    CHECK(std::fabs(merged_v.mean() - one_v.mean()) <= mean_tol);
    CHECK(close_rel(merged_v.population_variance(), one_v.population_variance(), 1e-13));
    CHECK(close_rel(merged_v.reliability_variance(), one_v.reliability_variance(), 1e-13));
    // and the merged state against NumPy over the whole set
    for (std::size_t r = 0; r < ref.rows(); ++r) {
      if (static_cast<int>(ref["set"][r]) == id && static_cast<std::size_t>(ref["n"][r]) == n) {
        CHECK(std::fabs(merged_m.mean() - ref["mean"][r]) <= mean_tol);
        CHECK(close_rel(merged_v.population_variance(), ref["pvar"][r], 1e-12));
        CHECK(close_rel(merged_v.reliability_variance(), ref["rvar"][r], 1e-12));
      }
    }
  }
}

TEST_CASE("merging with an empty part changes nothing in either direction — rejected counts add",
          "[weighted][merge]") {
  weighted_variance<double> a;
  a.push(1.0, 2.0);
  a.push(4.0, 1.0);
  a.push(2.0, -1.0);  // rejected
  const weighted_variance<double> empty;
  weighted_variance<double> b = a;
  b += empty;
  CHECK(b.mean() == a.mean());
  CHECK(b.population_variance() == a.population_variance());
  weighted_variance<double> c;
  c.push(3.0, qnan);  // rejected
  c += a;
  CHECK(c.mean() == a.mean());
  CHECK(c.reliability_variance() == a.reliability_variance());
  CHECK(c.rejected() == 2);
  CHECK(c.count() == 2);
  weighted_mean<double> ma;
  ma.push(1.0, 2.0);
  ma.push(4.0, 1.0);
  weighted_mean<double> mb;
  mb += ma;
  CHECK(mb.mean() == 2.0);
}

TEST_CASE(
    "equal weights give the unweighted statistics — reliability weights are scale-free, frequency "
    "weights repeat samples",
    "[weighted]") {
  const auto sets = load_sets();
  const auto& s = sets.at(0);
  variance<double> plain;
  weighted_variance<double> equal;
  weighted_variance<double> scaled;
  weighted_variance<double> scaled_big;
  for (std::size_t i = 0; i < s.x.size(); ++i) {
    plain.push(s.x[i]);
    equal.push(s.x[i], 1.0);
    scaled.push(s.x[i], s.w[i]);
    scaled_big.push(s.x[i], s.w[i] * 1024.0);
  }
  CHECK(close_rel(equal.mean(), plain.mean(), 1e-14));
  CHECK(close_rel(equal.reliability_variance(), plain.sample_variance(), 1e-13));
  CHECK(close_rel(equal.frequency_variance(), plain.sample_variance(), 1e-13));
  CHECK(close_rel(equal.population_variance(), plain.population_variance(), 1e-13));
  CHECK(close_rel(equal.effective_count(), static_cast<double>(s.x.size()), 1e-14));
  // ×1024 is exact in binary: the reliability variance is unchanged, the frequency variance is not
  CHECK(close_rel(scaled_big.reliability_variance(), scaled.reliability_variance(), 1e-13));
  CHECK(close_rel(scaled_big.population_variance(), scaled.population_variance(), 1e-13));
  // the frequency variance depends on the scale: on the first 5 samples (W ≈ 4) S/(W − 1) and
  // 1024·S/(1024·W − 1) differ by a third
  weighted_variance<double> few;
  weighted_variance<double> few_big;
  for (std::size_t i = 0; i < 5; ++i) {
    few.push(s.x[i], s.w[i]);
    few_big.push(s.x[i], s.w[i] * 1024.0);
  }
  CHECK(close_rel(few_big.reliability_variance(), few.reliability_variance(), 1e-13));
  CHECK_FALSE(close_rel(few_big.frequency_variance(), few.frequency_variance(), 0.1));

  // frequency weights: x pushed w times into variance<T> is the same sample
  const auto& f = sets.at(1);
  variance<double> expanded;
  weighted_variance<double> freq;
  for (std::size_t i = 0; i < f.x.size(); ++i) {
    freq.push(f.x[i], f.w[i]);
    for (int k = 0; k < static_cast<int>(f.w[i]); ++k) {
      expanded.push(f.x[i]);
    }
  }
  CHECK(close_rel(freq.frequency_variance(), expanded.sample_variance(), 1e-12));
  CHECK(close_rel(freq.mean(), expanded.mean(), 1e-13));
}

TEST_CASE("weights: negative, NaN and infinite are rejected and counted — zero changes nothing",
          "[weighted]") {
  weighted_variance<double> v;
  weighted_mean<double> m;
  CHECK(v.push(10.0, 1.0));
  CHECK(m.push(10.0, 1.0));
  CHECK(v.push(20.0, 3.0));
  CHECK(m.push(20.0, 3.0));
  const double mean = v.mean();
  const double pvar = v.population_variance();
  CHECK(mean == 17.5);
  CHECK(m.mean() == 17.5);
  for (const double w : {-1.0, -0.0 - 1e-300, qnan, pinf, -pinf}) {
    CHECK_FALSE(v.push(1e6, w));
    CHECK_FALSE(m.push(1e6, w));
  }
  CHECK(v.rejected() == 5);
  CHECK(m.rejected() == 5);
  // zero weight: accepted, no effect, even for a NaN or infinite sample
  CHECK(v.push(qnan, 0.0));
  CHECK(v.push(pinf, 0.0));
  CHECK(m.push(qnan, -0.0));
  CHECK(v.count() == 2);
  CHECK(m.count() == 2);
  CHECK(v.rejected() == 5);
  CHECK(v.mean() == mean);
  CHECK(v.population_variance() == pvar);
  CHECK(m.mean() == 17.5);
}

TEST_CASE("weighted getters below their minimum count, non-finite samples, reset", "[weighted]") {
  weighted_variance<double> v;
  weighted_mean<double> m;
  CHECK(std::isnan(v.mean()));
  CHECK(std::isnan(m.mean()));
  CHECK(std::isnan(m.value()));
  CHECK(std::isnan(v.population_variance()));
  CHECK(std::isnan(v.frequency_variance()));
  CHECK(std::isnan(v.reliability_variance()));
  CHECK(std::isnan(v.value()));
  CHECK(std::isnan(v.effective_count()));
  CHECK(v.sum_of_weights() == 0.0);
  v.push(5.0, 0.5);
  CHECK(v.mean() == 5.0);
  CHECK(v.population_variance() == 0.0);
  CHECK(std::isnan(v.frequency_variance()));    // W = 0.5 ≤ 1
  CHECK(std::isnan(v.reliability_variance()));  // one sample
  CHECK(std::isnan(v.stddev()));
  v.push(5.0, 0.5);
  CHECK(std::isnan(v.frequency_variance()));  // W = 1: numpy.cov divides by 0 (qnan with a warning)
  CHECK(v.reliability_variance() == 0.0);
  v.push(7.0, 1.0);
  CHECK(v.frequency_variance() == 2.0);  // S = 1·(5−6)²·... = 2, W − 1 = 1
  // IEEE for a non-finite sample with a positive weight, until reset()
  v.push(qnan, 1.0);
  m.push(pinf, 1.0);
  CHECK(std::isnan(v.mean()));
  CHECK(std::isnan(v.reliability_variance()));
  CHECK(m.mean() == pinf);
  v.reset();
  m.reset();
  CHECK(v.count() == 0);
  CHECK(v.rejected() == 0);
  CHECK(std::isnan(v.mean()));
  v.push(1.0, 1.0);
  v.push(3.0, 1.0);
  CHECK(v.mean() == 2.0);
  CHECK(v.reliability_variance() == 2.0);
  CHECK(v.stddev() == std::sqrt(2.0));
  CHECK(v.population_stddev() == 1.0);
  m.push(-2.0, 4.0);
  CHECK(m.mean() == -2.0);
}
