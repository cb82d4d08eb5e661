#include <catch2/catch.hpp>

#include <streamstats/mean.hpp>
#include <support/relative.hpp>

#include <cmath>
#include <limits>
#include <list>
#include <random>
#include <vector>

using streamstats::mean;

TEST_CASE("an empty mean is NaN and counts zero", "[mean]") {
  const mean<double> m;
  CHECK(m.count() == 0);
  CHECK(std::isnan(m.value()));
  CHECK(m.sum() == 0.0);
}

TEST_CASE("mean of a few values equals the closed form", "[mean]") {
  mean<double> m;
  for (double x : {1.0, 2.0, 3.0, 4.0}) {
    m(x);
  }
  CHECK(m.count() == 4);
  CHECK(m.value() == 2.5);
  CHECK(m.sum() == 10.0);
}

TEST_CASE("mean keeps digits a naive sum loses (1e16 + many ones)", "[mean]") {
  // Naive summation: 1e16 + 1 == 1e16 in double, so every 1 is lost. The exact mean of
  // {1e16, 1 × 1000, −1e16} is 1000 / 1002.
  mean<double> m;
  m.push(1e16);
  for (int i = 0; i < 1000; ++i) {
    m.push(1.0);
  }
  m.push(-1e16);
  CHECK(m.value() == Approx(1000.0 / 1002.0).epsilon(1e-15));
}

TEST_CASE("mean follows IEEE for non-finite input and reset clears it", "[mean][nonfinite]") {
  const double inf = std::numeric_limits<double>::infinity();
  mean<double> m;
  m.push(1.0);
  m.push(inf);
  CHECK(m.value() == inf);
  m.push(-inf);
  CHECK(std::isnan(m.value()));
  m.reset();
  CHECK(m.count() == 0);
  m.push(2.0);
  CHECK(m.value() == 2.0);
  m.push(std::numeric_limits<double>::quiet_NaN());
  CHECK(std::isnan(m.value()));

  mean<double> batch;
  const std::vector<double> xs = {1.0, 2.0, inf, 3.0, 4.0};
  batch.push(xs.begin(), xs.end());
  CHECK(batch.value() == inf);
}

TEST_CASE("batch push equals the scalar loop on contiguous and non-contiguous ranges", "[mean][batch]") {
  std::mt19937_64 rng(42);
  std::normal_distribution<double> dist(1e6, 3.0);
  std::vector<double> xs(65537);
  for (auto& x : xs) {
    x = dist(rng);
  }
  mean<double> scalar;
  for (double x : xs) {
    scalar.push(x);
  }
  mean<double> contiguous;
  contiguous.push(xs.data(), xs.data() + xs.size());
  mean<double> listed;
  const std::list<double> l(xs.begin(), xs.end());
  listed.push(l.begin(), l.end());
  mean<double> from_float;
  const std::vector<float> fs = {1.0F, 2.0F, 4.0F};
  from_float.push(fs.begin(), fs.end());

  CHECK(contiguous.count() == xs.size());
  CHECK(streamstats_test::close_rel(contiguous.value(), scalar.value(), 1e-15));
  CHECK(listed.value() == scalar.value());
  CHECK(from_float.value() == Approx(7.0 / 3.0).epsilon(1e-15));
}

TEST_CASE("mean works for float and long double", "[mean]") {
  mean<float> f;
  mean<long double> ld;
  for (int i = 1; i <= 10; ++i) {
    f.push(static_cast<float>(i));
    ld.push(static_cast<long double>(i));
  }
  CHECK(f.value() == 5.5F);
  CHECK(ld.value() == 5.5L);
}
