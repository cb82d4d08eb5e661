// Uses streamstats through its installed package; exits non-zero on a wrong number.
#include <streamstats/streamstats.hpp>
#ifdef CONSUMER_WITH_EIGEN
#include <streamstats/eigen.hpp>
#endif

#include <cmath>
#include <cstdio>

int main() {
  streamstats::variance<double> v;
  for (double x : {2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0}) {
    v.push(x);
  }
  // Closed form: mean 5, population variance 4.
  if (v.mean() != 5.0 || std::fabs(v.population_variance() - 4.0) > 1e-15) {
    std::puts("wrong variance");
    return 1;
  }
#ifdef CONSUMER_WITH_EIGEN
  static_assert(streamstats::eigen::is_fixed_vector_v<Eigen::Vector3d>);
  static_assert(!streamstats::eigen::is_fixed_vector_v<Eigen::VectorXd>);
#endif
  std::printf("consumer ok: mean %.1f, population variance %.1f\n", v.mean(), v.population_variance());
  return 0;
}
