#include <catch2/catch.hpp>

#include <streamstats/autocorrelation.hpp>
#include <streamstats/extrema.hpp>
#include <streamstats/mean.hpp>
#include <streamstats/moments.hpp>
#include <streamstats/multi.hpp>
#include <streamstats/variance.hpp>

#include <cmath>
#include <type_traits>
#include <vector>

using namespace streamstats;

TEST_CASE("multi feeds every accumulator in one pass", "[multi]") {
  multi<mean<double>, extrema<double>, variance<double>> m;
  for (double x : {2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0}) {
    m(x);
  }
  CHECK(m.count() == 8);
  CHECK(m.get<mean<double>>().value() == 5.0);
  CHECK(m.get<extrema<double>>().max() == 9.0);
  CHECK(m.get<2>().population_variance() == Approx(4.0).epsilon(1e-15));
  const auto values = m.value();
  CHECK(std::get<0>(values) == 5.0);
  CHECK(std::get<1>(values) == 7.0);  // range
  m.reset();
  CHECK(m.count() == 0);
}

TEST_CASE("multi batch push equals pushing one by one", "[multi][batch]") {
  std::vector<double> xs(10000);
  for (std::size_t i = 0; i < xs.size(); ++i) {
    xs[i] = std::sin(static_cast<double>(i)) * 100.0 + 7.0;
  }
  multi<mean<double>, variance<double>, moments<double>, autocorrelation<double>> one;
  multi<mean<double>, variance<double>, moments<double>, autocorrelation<double>> batch;
  for (double x : xs) {
    one.push(x);
  }
  batch.push(xs.begin(), xs.end());
  CHECK(batch.count() == xs.size());
  CHECK(batch.get<0>().value() == Approx(one.get<0>().value()).epsilon(1e-14));
  CHECK(batch.get<1>().sample_variance() == Approx(one.get<1>().sample_variance()).epsilon(1e-12));
  CHECK(batch.get<2>().kurtosis() == one.get<2>().kurtosis());
  CHECK(batch.get<3>().value() == one.get<3>().value());
}

TEST_CASE("multi is mergeable exactly when every member is", "[multi][merge]") {
  using mergeable = multi<mean<double>, variance<double>, extrema<double>>;
  mergeable a;
  mergeable b;
  a.push(1.0);
  b.push(3.0);
  a += b;
  CHECK(a.count() == 2);
  CHECK(a.get<0>().value() == 2.0);
  CHECK(a.get<2>().min() == 1.0);
  STATIC_REQUIRE(detail::is_mergeable<mergeable>::value);
}
