// streamstats benchmarks — the peer: Boost.Accumulators (header-only, Debian libboost-dev).
// SPDX-License-Identifier: MIT
#include "bench_common.hpp"

#include <boost/accumulators/accumulators.hpp>
#include <boost/accumulators/statistics/kurtosis.hpp>
#include <boost/accumulators/statistics/max.hpp>
#include <boost/accumulators/statistics/mean.hpp>
#include <boost/accumulators/statistics/min.hpp>
#include <boost/accumulators/statistics/p_square_quantile.hpp>
#include <boost/accumulators/statistics/rolling_mean.hpp>
#include <boost/accumulators/statistics/rolling_variance.hpp>
#include <boost/accumulators/statistics/skewness.hpp>
#include <boost/accumulators/statistics/stats.hpp>
#include <boost/accumulators/statistics/variance.hpp>
#include <boost/accumulators/statistics/weighted_mean.hpp>
#include <boost/accumulators/statistics/weighted_variance.hpp>

#include <cstddef>

namespace streamstats_bench {

namespace {

namespace ba = boost::accumulators;

template <class Set, class Q>
double boost_loop(Set acc, const double* p, std::size_t n, Q query) {
  for (std::size_t i = 0; i < n; ++i) {
    acc(p[i]);
  }
  return query(acc);
}

}  // namespace

void register_peer() {
  // weighted mean and variance (issue 16), weights from bench_weight(i); Boost's weighted_variance
  // is its immediate (Welford-like) form, unshifted
  add("weighted_mean", "push", "boost", [](const double* p, std::size_t n) {
    ba::accumulator_set<double, ba::stats<ba::tag::weighted_mean>, double> a;
    for (std::size_t i = 0; i < n; ++i) {
      a(p[i], ba::weight = bench_weight(i));
    }
    return ba::weighted_mean(a);
  });
  add("weighted_variance", "push", "boost", [](const double* p, std::size_t n) {
    ba::accumulator_set<double, ba::stats<ba::tag::weighted_variance>, double> a;
    for (std::size_t i = 0; i < n; ++i) {
      a(p[i], ba::weight = bench_weight(i));
    }
    return ba::weighted_variance(a);
  });

  // tag::mean is lazy (sum / count, an uncompensated sum); tag::immediate_mean updates a running mean
  // with one division per sample.
  add("mean", "push", "boost", [](const double* p, std::size_t n) {
    return boost_loop(ba::accumulator_set<double, ba::stats<ba::tag::mean>>(), p, n,
                      [](auto& a) { return ba::mean(a); });
  });
  add("mean", "push", "boost-immediate", [](const double* p, std::size_t n) {
    return boost_loop(ba::accumulator_set<double, ba::stats<ba::tag::mean(ba::immediate)>>(), p, n,
                      [](auto& a) { return ba::mean(a); });
  });

  // tag::variance: immediate mean + a Welford-like update with two divisions per sample.
  // tag::lazy_variance: raw second moment minus mean² at query time (cancels on offset data).
  add("variance", "push", "boost", [](const double* p, std::size_t n) {
    return boost_loop(ba::accumulator_set<double, ba::stats<ba::tag::variance>>(), p, n,
                      [](auto& a) { return ba::variance(a); });
  });
  add("variance", "push", "boost-lazy", [](const double* p, std::size_t n) {
    return boost_loop(ba::accumulator_set<double, ba::stats<ba::tag::variance(ba::lazy)>>(), p, n,
                      [](auto& a) { return ba::variance(a); });
  });

  // skewness and kurtosis: raw power sums moment<2..4> combined at query time.
  add("moments", "push", "boost", [](const double* p, std::size_t n) {
    return boost_loop(ba::accumulator_set<double, ba::stats<ba::tag::skewness, ba::tag::kurtosis>>(), p, n,
                      [](auto& a) { return ba::kurtosis(a); });
  });

  add("extrema", "push", "boost", [](const double* p, std::size_t n) {
    return boost_loop(ba::accumulator_set<double, ba::stats<ba::tag::min, ba::tag::max>>(), p, n,
                      [](auto& a) { return ba::max(a) - ba::min(a); });
  });

  add("multi(mean,variance,extrema)", "push", "boost", [](const double* p, std::size_t n) {
    return boost_loop(
        ba::accumulator_set<double,
                            ba::stats<ba::tag::mean, ba::tag::variance, ba::tag::min, ba::tag::max>>(),
        p, n, [](auto& a) { return ba::mean(a) + ba::variance(a) + ba::max(a); });
  });

  // Rolling statistics over a 64-sample window, queried after every push (the moving-window use).
  add("sma64", "push+value", "boost", [](const double* p, std::size_t n) {
    ba::accumulator_set<double, ba::stats<ba::tag::rolling_mean>> acc(ba::tag::rolling_window::window_size =
                                                                          64);
    double sink = 0;
    for (std::size_t i = 0; i < n; ++i) {
      acc(p[i]);
      sink += ba::rolling_mean(acc);
    }
    return sink;
  });
  add("sma64", "push+value", "boost-lazy", [](const double* p, std::size_t n) {
    ba::accumulator_set<double, ba::stats<ba::tag::rolling_mean(ba::lazy)>> acc(
        ba::tag::rolling_window::window_size = 64);
    double sink = 0;
    for (std::size_t i = 0; i < n; ++i) {
      acc(p[i]);
      sink += ba::rolling_mean(acc);
    }
    return sink;
  });
  add("rolling_variance64", "push+variance", "boost", [](const double* p, std::size_t n) {
    ba::accumulator_set<double, ba::stats<ba::tag::rolling_variance>> acc(
        ba::tag::rolling_window::window_size = 64);
    double sink = 0;
    for (std::size_t i = 0; i < n; ++i) {
      acc(p[i]);
      sink += ba::rolling_variance(acc);
    }
    return sink;
  });

  // P² median (Jain & Chlamtac), the same algorithm as streamstats::quantile.
  add("quantile(0.5)", "push", "boost", [](const double* p, std::size_t n) {
    return boost_loop(
        ba::accumulator_set<double, ba::stats<ba::tag::p_square_quantile>>(ba::quantile_probability = 0.5), p,
        n, [](auto& a) { return ba::p_square_quantile(a); });
  });
}

}  // namespace streamstats_bench
