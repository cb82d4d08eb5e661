#include <streamstats/streamstats.hpp>
#ifdef STREAMSTATS_ODR_EIGEN
#include <streamstats/eigen.hpp>
#endif

double odr_a() {
  streamstats::multi<streamstats::mean<double>, streamstats::variance<double>> m;
  m.push(1.0);
  m.push(3.0);
  return m.get<0>().value();  // 2
}
