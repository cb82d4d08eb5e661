// streamstats quick start: one pass over a stream, several statistics, one merge.
#include <streamstats/streamstats.hpp>

#include <cstdio>

int main() {
  using namespace streamstats;
  multi<variance<double>, extrema<double>, autocorrelation<double>> stats;
  for (double x : {2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0}) {
    stats.push(x);  // O(1), no allocation
  }
  const auto& v = stats.get<variance<double>>();
  std::printf("n=%zu mean=%.4f sd=%.4f min=%.1f max=%.1f r1=%.3f\n", v.count(), v.mean(), v.stddev(),
              stats.get<extrema<double>>().min(), stats.get<extrema<double>>().max(),
              stats.get<autocorrelation<double>>().value());

  variance<double> shard;  // computed elsewhere, merged exactly (Chan et al.)
  shard.push(11.0);
  variance<double> all = v;
  all += shard;
  std::printf("after merge: n=%zu mean=%.4f\n", all.count(), all.mean());
}
