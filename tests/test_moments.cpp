#include <catch2/catch.hpp>

#include <streamstats/moments.hpp>
#include <support/relative.hpp>

#include <cmath>
#include <limits>
#include <vector>

using streamstats::moments;

namespace {
// k ones and n − k zeros: a Bernoulli(p = k/n) population, whose moments have closed forms:
//   skewness g1 = (1 − 2p) / sqrt(p(1 − p)),  excess kurtosis g2 = (1 − 6p(1 − p)) / (p(1 − p)).
moments<double> bernoulli(int n, int k, double offset) {
  moments<double> m;
  for (int i = 0; i < n; ++i) {
    m.push(offset + (i % (n / k) == 0 ? 1.0 : 0.0));
  }
  return m;
}
}  // namespace

TEST_CASE("moments below their minimum count are NaN", "[moments]") {
  moments<double> m;
  CHECK(std::isnan(m.mean()));
  CHECK(std::isnan(m.skewness()));
  CHECK(std::isnan(m.kurtosis()));
  m.push(1.0);
  CHECK(std::isnan(m.skewness()));
  CHECK(std::isnan(m.kurtosis()));
  m.push(2.0);
  CHECK(m.skewness() == 0.0);
  CHECK(std::isnan(m.sample_skewness()));
  m.push(3.0);
  CHECK(m.sample_skewness() == Approx(0.0).margin(1e-15));
  CHECK(std::isnan(m.sample_kurtosis()));
}

TEST_CASE("moments of a constant series have zero skewness and kurtosis (pandas convention)", "[moments]") {
  moments<double> m;
  for (int i = 0; i < 10; ++i) {
    m.push(4.25);
  }
  CHECK(m.population_variance() == 0.0);
  CHECK(m.skewness() == 0.0);
  CHECK(m.kurtosis() == 0.0);
}

TEST_CASE("moments of a Bernoulli population match the closed forms", "[moments]") {
  const double p = 0.25;
  const double g1 = (1 - 2 * p) / std::sqrt(p * (1 - p));
  const double g2 = (1 - 6 * p * (1 - p)) / (p * (1 - p));
  const auto m = bernoulli(4000, 1000, 0.0);
  CHECK(m.mean() == Approx(p).epsilon(1e-14));
  CHECK(m.population_variance() == Approx(p * (1 - p)).epsilon(1e-14));
  CHECK(m.skewness() == Approx(g1).epsilon(1e-12));
  CHECK(m.kurtosis() == Approx(g2).epsilon(1e-12));
}

TEST_CASE("moments stay exact on data shifted by 1e9, where raw power sums fail", "[moments]") {
  // Raw sums Σx³, Σx⁴ of values near 1e9 need ~36 digits; centred updates on data shifted by the
  // first sample need none of them (unshifted, the running mean's rounding to ulp(1e9) costs 8 digits).
  const double p = 0.25;
  const double g1 = (1 - 2 * p) / std::sqrt(p * (1 - p));
  const double g2 = (1 - 6 * p * (1 - p)) / (p * (1 - p));
  const auto m = bernoulli(4000, 1000, 1e9);
  CHECK(m.mean() == Approx(1e9 + p).epsilon(1e-15));
  CHECK(m.population_variance() == Approx(p * (1 - p)).epsilon(1e-12));
  CHECK(m.skewness() == Approx(g1).epsilon(1e-12));
  CHECK(m.kurtosis() == Approx(g2).epsilon(1e-12));
}

TEST_CASE("sample skewness and kurtosis equal pandas .skew() and .kurt()", "[moments][pandas]") {
  // pandas 1.5.3: pd.Series([1., 2., 3., 4., 10.]).skew() == 1.697056274847714,
  //               .kurt() == 3.1519999999999992
  moments<double> m;
  for (double x : {1.0, 2.0, 3.0, 4.0, 10.0}) {
    m.push(x);
  }
  CHECK(m.sample_skewness() == Approx(1.697056274847714).epsilon(1e-13));
  CHECK(m.sample_kurtosis() == Approx(3.1519999999999992).epsilon(1e-13));
  // Population forms for the same data: g1 = m3/m2^1.5, g2 = m4/m2² − 3 with m2 = 10, m3 = 36,
  // m4 = 278.8 (central moments / n computed by hand from deviations {−3, −2, −1, 0, 6}).
  CHECK(m.skewness() == Approx(36.0 / std::pow(10.0, 1.5)).epsilon(1e-13));
  CHECK(m.kurtosis() == Approx(278.8 / 100.0 - 3.0).epsilon(1e-13));
}

TEST_CASE("moments variance agrees with the textbook sample", "[moments]") {
  moments<double> m;
  for (double x : {2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0}) {
    m(x);
  }
  CHECK(m.population_variance() == Approx(4.0).epsilon(1e-15));
  CHECK(m.sample_variance() == Approx(32.0 / 7.0).epsilon(1e-15));
  CHECK(m.value() == m.sample_variance());
  CHECK(m.stddev() == Approx(std::sqrt(32.0 / 7.0)).epsilon(1e-15));
  std::vector<double> xs = {2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0};
  moments<double> b;
  b.push(xs.begin(), xs.end());
  CHECK(b.kurtosis() == m.kurtosis());
  b.reset();
  CHECK(b.count() == 0);
  CHECK(std::isnan(b.mean()));
}
