// streamstats benchmarks — the Eigen layer: streaming covariance of fixed-size vectors.
// SPDX-License-Identifier: MIT
#include "bench_common.hpp"

#include <streamstats/eigen.hpp>

#include <Eigen/Core>

#include <cstddef>

namespace streamstats_bench {

namespace {

// Vector sample i is (x_i, x_{i+1}, …, x_{i+D−1}): n − D + 1 vectors from n doubles, so the time per
// sample is per vector.
template <int D>
double covariance_loop(const double* p, std::size_t n) {
  streamstats::covariance<double, D> c;
  for (std::size_t i = 0; i + D <= n; ++i) {
    c.push(Eigen::Map<const Eigen::Matrix<double, D, 1>>(p + i));
  }
  return c.sample_covariance()(0, D - 1);
}

// The same Welford co-moment update written out by hand with Eigen (the limit).
template <int D>
double limit_covariance(const double* p, std::size_t n) {
  using vec = Eigen::Matrix<double, D, 1>;
  using mat = Eigen::Matrix<double, D, D>;
  vec mean = vec::Zero();
  mat c = mat::Zero();
  double k = 0;
  for (std::size_t i = 0; i + D <= n; ++i) {
    const vec x = Eigen::Map<const vec>(p + i);
    k += 1;
    const vec d = x - mean;
    mean += d / k;
    c.noalias() += d * (x - mean).transpose();
  }
  return c(0, D - 1) / (k - 1);
}

}  // namespace

void register_eigen() {
  add("covariance<double,3>", "push", "streamstats", covariance_loop<3>);
  add("covariance<double,3>", "push", "limit", limit_covariance<3>);
  add("covariance<double,8>", "push", "streamstats", covariance_loop<8>);
  add("covariance<double,8>", "push", "limit", limit_covariance<8>);
}

}  // namespace streamstats_bench
