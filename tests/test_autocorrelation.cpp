#include <catch2/catch.hpp>

#include <streamstats/autocorrelation.hpp>

#include <cmath>
#include <random>
#include <vector>

using streamstats::autocorrelation;

namespace {
// The textbook two-pass definition (NIST StRD's), in long double, as an independent reference.
double two_pass_r1(const std::vector<double>& x) {
  long double m = 0;
  for (double v : x) {
    m += v;
  }
  m /= static_cast<long double>(x.size());
  long double num = 0;
  long double den = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    den += (x[i] - m) * (x[i] - m);
    if (i > 0) {
      num += (x[i] - m) * (x[i - 1] - m);
    }
  }
  return static_cast<double>(num / den);
}
}  // namespace

TEST_CASE("autocorrelation below two samples or with zero variance is NaN", "[autocorrelation]") {
  autocorrelation<double> r;
  CHECK(std::isnan(r.value()));
  r.push(1.0);
  CHECK(std::isnan(r.value()));
  r.push(1.0);
  r.push(1.0);
  CHECK(std::isnan(r.value()));
}

TEST_CASE("autocorrelation of an alternating series is the closed form −(n−1)/n", "[autocorrelation]") {
  // x = +1, −1, +1, ... (n even): mean 0, Σx² = n, Σ x_i x_{i−1} = −(n − 1).
  autocorrelation<double> r;
  const int n = 1000;
  for (int i = 0; i < n; ++i) {
    r.push(i % 2 == 0 ? 1.0 : -1.0);
  }
  CHECK(r.value() == Approx(-(n - 1.0) / n).epsilon(1e-14));
}

TEST_CASE("autocorrelation of an AR(1) series equals the two-pass definition", "[autocorrelation]") {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> e(0.0, 1.0);
  std::vector<double> x;
  double prev = 0.0;
  for (int i = 0; i < 20000; ++i) {
    prev = 1e6 + 0.7 * (prev - 1e6) + e(rng);
    x.push_back(prev);
  }
  autocorrelation<double> r;
  r.push(x.begin(), x.end());
  CHECK(r.value() == Approx(two_pass_r1(x)).epsilon(1e-11));
  CHECK(r.value() == Approx(0.7).margin(0.02));  // and the process' true coefficient
}

TEST_CASE("autocorrelation merge appends in order", "[autocorrelation][merge]") {
  const std::vector<double> x = {1, 4, 2, 8, 5, 7, 1, 3, 9, 2};
  for (std::size_t cut = 0; cut <= x.size(); ++cut) {
    autocorrelation<double> a;
    autocorrelation<double> b;
    for (std::size_t i = 0; i < x.size(); ++i) {
      (i < cut ? a : b).push(x[i]);
    }
    a += b;
    INFO("cut = " << cut);
    CHECK(a.count() == x.size());
    CHECK(a.value() == Approx(two_pass_r1(x)).epsilon(1e-13));
  }
}
