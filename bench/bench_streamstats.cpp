// streamstats benchmarks — the library's accumulators and hand-written loops that mark the hardware limit.
// SPDX-License-Identifier: MIT
#include "bench_common.hpp"

#include <streamstats/ema.hpp>
#include <streamstats/ew_variance.hpp>
#include <streamstats/quantile.hpp>
#include <streamstats/rolling_extrema.hpp>
#include <streamstats/rolling_variance.hpp>
#include <streamstats/sma.hpp>
#include <streamstats/streamstats.hpp>
#include <streamstats/zscore_detector.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>

namespace streamstats_bench {

namespace {

namespace ss = streamstats;

// One scalar push per sample into a fresh accumulator, then one query.
template <class A, class Q>
double push_loop(const double* p, std::size_t n, Q query) {
  A a;
  for (std::size_t i = 0; i < n; ++i) {
    a.push(p[i]);
  }
  return query(a);
}

// The batch entry point on a contiguous range (the documented fast path).
template <class A, class Q>
double batch(const double* p, std::size_t n, Q query) {
  A a;
  a.push(p, p + n);
  return query(a);
}

// One push per sample, and the result read after each (the moving-window use: a chart, a detector).
template <class A, class Q>
double window_loop(const double* p, std::size_t n, Q query) {
  A a;
  double sink = 0;
  for (std::size_t i = 0; i < n; ++i) {
    a.push(p[i]);
    sink += query(a);
  }
  return sink;
}

// window_loop for a window whose length is chosen at run time (constructed with `window`).
template <class A, class Q>
double window_loop_sized(const double* p, std::size_t n, std::size_t window, Q query) {
  A a(window);
  double sink = 0;
  for (std::size_t i = 0; i < n; ++i) {
    a.push(p[i]);
    sink += query(a);
  }
  return sink;
}

// --- hand-written limits ------------------------------------------------------------------------

// `s += x`: one loop-carried add per sample. At -O2 without -ffast-math GCC may not reorder the
// additions, so this is latency-bound (one FP add latency, 3–4 cycles, per sample).
double limit_plain_sum(const double* p, std::size_t n) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) {
    s += p[i];
  }
  return s / static_cast<double>(n);
}

// Eight independent partial sums, written out so that they stay in registers (packed SSE2 at -O2):
// what an uncompensated sum costs once the dependency is broken; bandwidth-bound out of cache.
double limit_lane_sum(const double* p, std::size_t n) {
  double s[8] = {};
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    s[0] += p[i];
    s[1] += p[i + 1];
    s[2] += p[i + 2];
    s[3] += p[i + 3];
    s[4] += p[i + 4];
    s[5] += p[i + 5];
    s[6] += p[i + 6];
    s[7] += p[i + 7];
  }
  double t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  for (; i < n; ++i) {
    t += p[i];
  }
  return t / static_cast<double>(n);
}

// Textbook Welford (one division per sample, on the loop-carried chain of the mean).
double limit_welford(const double* p, std::size_t n) {
  double mean = 0;
  double m2 = 0;
  double k = 0;
  for (std::size_t i = 0; i < n; ++i) {
    k += 1;
    const double d = p[i] - mean;
    mean += d / k;
    m2 += d * (p[i] - mean);
  }
  return m2 / (k - 1);
}

// Welford with the division hoisted off the dependency chain (1/k depends only on the counter):
// sub → mul → add per sample on the mean's chain.
double limit_welford_reciprocal(const double* p, std::size_t n) {
  double mean = 0;
  double m2 = 0;
  double k = 0;
  for (std::size_t i = 0; i < n; ++i) {
    k += 1;
    const double inv = 1.0 / k;
    const double d = p[i] - mean;
    mean += d * inv;
    m2 += d * (p[i] - mean);
  }
  return m2 / (k - 1);
}

double limit_minmax(const double* p, std::size_t n) {
  double lo = p[0];
  double hi = p[0];
  for (std::size_t i = 1; i < n; ++i) {
    lo = std::min(lo, p[i]);
    hi = std::max(hi, p[i]);
  }
  return hi - lo;
}

// Ring-buffer SMA over 64 samples: running sum, one add and one subtract per sample, no
// compensation (drifts over long streams — the limit, not a recommendation).
template <std::size_t N>
double limit_ring_sma(const double* p, std::size_t n) {
  std::array<double, N> ring{};
  double sum = 0;
  double sink = 0;
  std::size_t head = 0;
  std::size_t filled = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sum += p[i] - ring[head];
    ring[head] = p[i];
    head = head + 1 == N ? 0 : head + 1;
    filled += filled < N ? 1 : 0;
    sink += sum / static_cast<double>(filled);
  }
  return sink;
}

// Ring-buffer rolling variance over N samples: windowed Welford (add the new sample, remove the
// one leaving), uncompensated.
template <std::size_t N>
double limit_ring_variance(const double* p, std::size_t n) {
  std::array<double, N> ring{};
  double mean = 0;
  double m2 = 0;
  double sink = 0;
  std::size_t head = 0;
  std::size_t filled = 0;
  constexpr double inv_n = 1.0 / static_cast<double>(N);
  for (std::size_t i = 0; i < n; ++i) {
    const double x = p[i];
    if (filled < N) {
      ++filled;
      const double d = x - mean;
      mean += d / static_cast<double>(filled);
      m2 += d * (x - mean);
    } else {
      const double old = ring[head];
      const double old_mean = mean;
      mean += (x - old) * inv_n;
      m2 += (x - old) * ((x - mean) + (old - old_mean));
    }
    ring[head] = x;
    head = head + 1 == N ? 0 : head + 1;
    sink += filled > 1 ? m2 / static_cast<double>(filled - 1) : 0.0;
  }
  return sink;
}

// Rolling min/max by rescanning the window: O(N) per sample, the naive alternative.
template <std::size_t N>
double limit_rolling_extrema_scan(const double* p, std::size_t n) {
  double sink = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t from = i + 1 >= N ? i + 1 - N : 0;
    double lo = p[from];
    double hi = p[from];
    for (std::size_t k = from + 1; k <= i; ++k) {
      lo = std::min(lo, p[k]);
      hi = std::max(hi, p[k]);
    }
    sink += hi - lo;
  }
  return sink;
}

// EMA, adjust=False: m += α(x − m), seeded with the first sample.
double limit_ema(const double* p, std::size_t n) {
  constexpr double alpha = 2.0 / 21.0;
  double m = p[0];
  double sink = 0;
  for (std::size_t i = 0; i < n; ++i) {
    m += alpha * (p[i] - m);
    sink += m;
  }
  return sink;
}

}  // namespace

void register_core() {
  // mean
  add("mean", "push", "streamstats", [](const double* p, std::size_t n) {
    return push_loop<ss::mean<double>>(p, n, [](auto& a) { return a.value(); });
  });
  add("mean", "batch", "streamstats", [](const double* p, std::size_t n) {
    return batch<ss::mean<double>>(p, n, [](auto& a) { return a.value(); });
  });
  add("mean", "push", "limit", limit_plain_sum);
  add("mean", "batch", "limit", limit_plain_sum);
  add("mean", "batch", "limit-lanes", limit_lane_sum);

  // variance
  add("variance", "push", "streamstats", [](const double* p, std::size_t n) {
    return push_loop<ss::variance<double>>(p, n, [](auto& a) { return a.sample_variance(); });
  });
  add("variance", "batch", "streamstats", [](const double* p, std::size_t n) {
    return batch<ss::variance<double>>(p, n, [](auto& a) { return a.sample_variance(); });
  });
  add("variance", "push", "limit", limit_welford_reciprocal);
  add("variance", "push", "limit-div", limit_welford);
  add("variance", "batch", "limit", limit_plain_sum);

  // moments
  add("moments", "push", "streamstats", [](const double* p, std::size_t n) {
    return push_loop<ss::moments<double>>(p, n, [](auto& a) { return a.kurtosis(); });
  });
  add("moments", "batch", "streamstats", [](const double* p, std::size_t n) {
    return batch<ss::moments<double>>(p, n, [](auto& a) { return a.kurtosis(); });
  });

  // extrema
  add("extrema", "push", "streamstats", [](const double* p, std::size_t n) {
    return push_loop<ss::extrema<double>>(p, n, [](auto& a) { return a.max() - a.min(); });
  });
  add("extrema", "batch", "streamstats", [](const double* p, std::size_t n) {
    return batch<ss::extrema<double>>(p, n, [](auto& a) { return a.max() - a.min(); });
  });
  add("extrema", "push", "limit", limit_minmax);

  // autocorrelation (no Boost peer)
  add("autocorrelation", "push", "streamstats", [](const double* p, std::size_t n) {
    return push_loop<ss::autocorrelation<double>>(p, n, [](auto& a) { return a.value(); });
  });
  add("autocorrelation", "batch", "streamstats", [](const double* p, std::size_t n) {
    return batch<ss::autocorrelation<double>>(p, n, [](auto& a) { return a.value(); });
  });

  // multi<mean, variance, extrema>
  using multi3 = ss::multi<ss::mean<double>, ss::variance<double>, ss::extrema<double>>;
  add("multi(mean,variance,extrema)", "push", "streamstats", [](const double* p, std::size_t n) {
    return push_loop<multi3>(p, n, [](auto& a) {
      return a.template get<0>().value() + a.template get<1>().value() + a.template get<2>().max();
    });
  });
  add("multi(mean,variance,extrema)", "batch", "streamstats", [](const double* p, std::size_t n) {
    return batch<multi3>(p, n, [](auto& a) {
      return a.template get<0>().value() + a.template get<1>().value() + a.template get<2>().max();
    });
  });

  // detectors: the cost of scoring against a baseline, beside the baseline's own push
  add("zscore_detector<variance>", "push", "streamstats", [](const double* p, std::size_t n) {
    ss::zscore_detector<ss::variance<double>> d;
    double sink = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const auto r = d.push(p[i]);  // z and the decision; the score is computed on request
      sink += r.anomaly ? 1.0 : r.z;
    }
    return sink;
  });
  // score() is computed on request; this row prices it for a caller that ranks every sample
  add("zscore_detector<variance>", "push+score", "streamstats", [](const double* p, std::size_t n) {
    ss::zscore_detector<ss::variance<double>> d;
    double sink = 0;
    for (std::size_t i = 0; i < n; ++i) {
      sink += d.push(p[i]).score();
    }
    return sink;
  });

  // moving windows, read after every push
  add("sma64", "push+value", "streamstats", [](const double* p, std::size_t n) {
    return window_loop<ss::sma<double, 64>>(p, n, [](auto& a) { return a.value(); });
  });
  add("rolling_variance64", "push+variance", "streamstats", [](const double* p, std::size_t n) {
    return window_loop<ss::rolling_variance<double, 64>>(p, n, [](auto& a) { return a.sample_variance(); });
  });
  add("rolling_extrema64", "push+min+max", "streamstats", [](const double* p, std::size_t n) {
    return window_loop<ss::rolling_extrema<double, 64>>(p, n, [](auto& a) { return a.max() - a.min(); });
  });
  add("rolling_extrema64", "push+min+max", "limit", limit_rolling_extrema_scan<64>);
  add("ema(span20)", "push+value", "streamstats", [](const double* p, std::size_t n) {
    auto a = ss::ema<double>::from_span(20);
    double sink = 0;
    for (std::size_t i = 0; i < n; ++i) {
      a.push(p[i]);
      sink += a.value();
    }
    return sink;
  });
  add("ema(span20)", "push+value", "limit", limit_ema);
  add("ew_variance(span20)", "push+variance", "streamstats", [](const double* p, std::size_t n) {
    auto a = ss::ew_variance<double>::from_span(20);
    double sink = 0;
    for (std::size_t i = 0; i < n; ++i) {
      a.push(p[i]);
      sink += a.sample_variance();
    }
    return sink;
  });
  add("sma64", "push+value", "streamstats-recompute", [](const double* p, std::size_t n) {
    return window_loop<ss::sma<double, 64, ss::window_sum::recompute>>(p, n,
                                                                       [](auto& a) { return a.value(); });
  });
  add("zscore_detector<rolling_variance64>", "push", "streamstats", [](const double* p, std::size_t n) {
    ss::zscore_detector<ss::rolling_variance<double, 64>> d;
    double sink = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const auto r = d.push(p[i]);  // z and the decision; the score is computed on request
      sink += r.anomaly ? 1.0 : r.z;
    }
    return sink;
  });
  add("zscore_detector<rolling_variance64>", "push+score", "streamstats", [](const double* p, std::size_t n) {
    ss::zscore_detector<ss::rolling_variance<double, 64>> d;
    double sink = 0;
    for (std::size_t i = 0; i < n; ++i) {
      sink += d.push(p[i]).score();
    }
    return sink;
  });
  add("zscore_detector<ew_variance>", "push", "streamstats", [](const double* p, std::size_t n) {
    ss::zscore_detector<ss::ew_variance<double>> d(ss::ew_variance<double>::from_span(20));
    double sink = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const auto r = d.push(p[i]);  // z and the decision; the score is computed on request
      sink += r.anomaly ? 1.0 : r.z;
    }
    return sink;
  });
  add("zscore_detector<ew_variance>", "push+score", "streamstats", [](const double* p, std::size_t n) {
    ss::zscore_detector<ss::ew_variance<double>> d(ss::ew_variance<double>::from_span(20));
    double sink = 0;
    for (std::size_t i = 0; i < n; ++i) {
      sink += d.push(p[i]).score();
    }
    return sink;
  });
  add("anomaly_detector", "push", "streamstats", [](const double* p, std::size_t n) {
    ss::anomaly_detector<double> d;
    double sink = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const auto r = d.push(p[i]);  // z and the decision; the score is computed on request
      sink += r.anomaly ? 1.0 : r.z;
    }
    return sink;
  });
  add("anomaly_detector", "push+score", "streamstats", [](const double* p, std::size_t n) {
    ss::anomaly_detector<double> d;
    double sink = 0;
    for (std::size_t i = 0; i < n; ++i) {
      sink += d.push(p[i]).score();
    }
    return sink;
  });
  // the baselines' own push, without a query, for the detectors' cost ratio
  add("rolling_variance64", "push", "streamstats", [](const double* p, std::size_t n) {
    return push_loop<ss::rolling_variance<double, 64>>(p, n, [](auto& a) { return a.sample_variance(); });
  });
  add("ew_variance", "push", "streamstats", [](const double* p, std::size_t n) {
    auto a = ss::ew_variance<double>::from_span(20);
    for (std::size_t i = 0; i < n; ++i) {
      a.push(p[i]);
    }
    return a.sample_variance();
  });

  // P² median: push every sample, read the estimate at the end (as the Boost benchmark does)
  add("quantile(0.5)", "push", "streamstats", [](const double* p, std::size_t n) {
    ss::quantile<double> q(0.5);
    for (std::size_t i = 0; i < n; ++i) {
      q.push(p[i]);
    }
    return q.value();
  });

  // push alone and push(first, last) for the windows, smoothers and the quantile
  add("sma64", "push", "streamstats", [](const double* p, std::size_t n) {
    return push_loop<ss::sma<double, 64>>(p, n, [](auto& a) { return a.value(); });
  });
  add("sma64", "batch", "streamstats", [](const double* p, std::size_t n) {
    return batch<ss::sma<double, 64>>(p, n, [](auto& a) { return a.value(); });
  });
  add("rolling_variance64", "batch", "streamstats", [](const double* p, std::size_t n) {
    return batch<ss::rolling_variance<double, 64>>(p, n, [](auto& a) { return a.sample_variance(); });
  });
  add("rolling_extrema64", "push", "streamstats", [](const double* p, std::size_t n) {
    return push_loop<ss::rolling_extrema<double, 64>>(p, n, [](auto& a) { return a.max() - a.min(); });
  });
  add("rolling_extrema64", "batch", "streamstats", [](const double* p, std::size_t n) {
    return batch<ss::rolling_extrema<double, 64>>(p, n, [](auto& a) { return a.max() - a.min(); });
  });
  add("ema(span20)", "push", "streamstats", [](const double* p, std::size_t n) {
    auto a = ss::ema<double>::from_span(20);
    for (std::size_t i = 0; i < n; ++i) {
      a.push(p[i]);
    }
    return a.value();
  });
  add("ema(span20)", "batch", "streamstats", [](const double* p, std::size_t n) {
    auto a = ss::ema<double>::from_span(20);
    a.push(p, p + n);
    return a.value();
  });
  add("ew_variance", "batch", "streamstats", [](const double* p, std::size_t n) {
    auto a = ss::ew_variance<double>::from_span(20);
    a.push(p, p + n);
    return a.sample_variance();
  });
  add("quantile(0.5)", "batch", "streamstats", [](const double* p, std::size_t n) {
    ss::quantile<double> q(0.5);
    q.push(p, p + n);
    return q.value();
  });

  add("sma64", "push+value", "limit", limit_ring_sma<64>);
  add("rolling_variance64", "push+variance", "limit", limit_ring_variance<64>);

  // DDSketch (issue 16): push every sample, read the median at the end, as the P² rows do; the peer
  // is Boost's p_square_quantile for one p (bench_boost.cpp, quantile(0.5)/push/boost)
  add("ddsketch1024", "push", "streamstats", [](const double* p, std::size_t n) {
    ss::ddsketch<double, 1024> s(0.01);
    for (std::size_t i = 0; i < n; ++i) {
      s.push(p[i]);
    }
    return s.quantile(0.5);
  });
  add("quantile(0.5)", "push", "streamstats-ddsketch1024", [](const double* p, std::size_t n) {
    ss::ddsketch<double, 1024> s(0.01);
    for (std::size_t i = 0; i < n; ++i) {
      s.push(p[i]);
    }
    return s.quantile(0.5);
  });
  // quantile(q) on a sketch whose 1024 positive bins are all occupied (the worst case of the walk):
  // one query per iteration, q cycling over 0.001 .. 0.999, so the time per iteration is per query
  benchmark::RegisterBenchmark("ddsketch1024/quantile/streamstats", [](benchmark::State& st) {
    ss::ddsketch<double, 1024> s(0.01);
    const double top = std::ldexp(1.0, 29);  // 2^29: 1024 keys at α = 0.01 reach about 2^29.4
    for (double x = 1.0; x < top; x *= 1.0 + 1.0 / 64) {
      s.push(x);
    }
    constexpr double qs[] = {0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999};
    std::size_t i = 0;
    for (auto _ : st) {
      double v = s.quantile(qs[i]);
      benchmark::DoNotOptimize(v);
      i = i + 1 == 9 ? 0 : i + 1;
    }
    st.counters["occupied_bins"] = static_cast<double>(s.count() > 0 ? 1024 : 0);
  })->Unit(benchmark::kNanosecond);
  add("ddsketch1024", "merge16", "streamstats", [](const double* p, std::size_t n) {
    // 16 shards of the input, then their merge (the scale-out use); per sample = (push + merge share)
    ss::ddsketch<double, 1024> shards[16];
    for (std::size_t i = 0; i < n; ++i) {
      shards[i & 15].push(p[i]);
    }
    ss::ddsketch<double, 1024> all;
    for (const auto& s : shards) {
      all += s;
    }
    return all.quantile(0.99);
  });

  // time_window (issue 16): variance over 5 minutes in 60 buckets of 5 s, one sample per 10 ms;
  // push alone, and push + a snapshot (O(Buckets) merges) every 100 samples (a 1 Hz dashboard)
  add("time_window<variance,60>", "push", "streamstats", [](const double* p, std::size_t n) {
    ss::time_window<ss::variance<double>, 60> w(std::chrono::minutes(5));
    for (std::size_t i = 0; i < n; ++i) {
      w.push(p[i], std::chrono::steady_clock::time_point(std::chrono::milliseconds(10 * i)));
    }
    return w.snapshot().sample_variance();
  });
  benchmark::RegisterBenchmark("time_window<variance,60>/snapshot/streamstats", [](benchmark::State& st) {
    ss::time_window<ss::variance<double>, 60> w(std::chrono::minutes(5));
    const auto& xs = samples(in_cache_n);
    for (std::size_t i = 0; i < 60000; ++i) {  // 10 minutes at 100 Hz: every bucket occupied
      w.push(xs[i], std::chrono::steady_clock::time_point(std::chrono::milliseconds(10 * i)));
    }
    for (auto _ : st) {
      double v = w.snapshot().sample_variance();
      benchmark::DoNotOptimize(v);
    }
  })->Unit(benchmark::kNanosecond);

  // weighted statistics (issue 16), the weights of bench_weight(i); the peer is Boost's
  add("weighted_mean", "push", "streamstats", [](const double* p, std::size_t n) {
    ss::weighted_mean<double> a;
    for (std::size_t i = 0; i < n; ++i) {
      a.push(p[i], bench_weight(i));
    }
    return a.mean();
  });
  add("weighted_variance", "push", "streamstats", [](const double* p, std::size_t n) {
    ss::weighted_variance<double> a;
    for (std::size_t i = 0; i < n; ++i) {
      a.push(p[i], bench_weight(i));
    }
    return a.population_variance();
  });

  // run-time window lengths (issue 16): a window of 64 chosen at construction in a ring of
  // capacity 4096, beside the compile-time rows above (same group, impl "streamstats-runtime")
  add("sma64", "push+value", "streamstats-runtime", [](const double* p, std::size_t n) {
    return window_loop_sized<ss::sma<double, 4096>>(p, n, 64, [](auto& a) { return a.value(); });
  });
  add("rolling_variance64", "push+variance", "streamstats-runtime", [](const double* p, std::size_t n) {
    return window_loop_sized<ss::rolling_variance<double, 4096>>(p, n, 64,
                                                                 [](auto& a) { return a.sample_variance(); });
  });
  add("rolling_extrema64", "push+min+max", "streamstats-runtime", [](const double* p, std::size_t n) {
    return window_loop_sized<ss::rolling_extrema<double, 4096>>(p, n, 64,
                                                                [](auto& a) { return a.max() - a.min(); });
  });

  // issue 10: the rank calibration alone, and the NAB-tuned anomaly_detector<double, 200> beside its
  // baseline (rolling_variance200 push) and the plain z-score detector over the same window
  add("score_rank", "push", "streamstats", [](const double* p, std::size_t n) {
    ss::score_rank<double> r;
    double sink = 0;
    for (std::size_t i = 0; i < n; ++i) {
      sink += r.push(p[i] < 0 ? -p[i] : p[i]);
    }
    return sink;
  });
  add("rolling_variance200", "push", "streamstats", [](const double* p, std::size_t n) {
    return push_loop<ss::rolling_variance<double, 200>>(p, n, [](auto& a) { return a.sample_variance(); });
  });
  add("zscore_detector<rolling_variance200>", "push", "streamstats", [](const double* p, std::size_t n) {
    ss::zscore_detector<ss::rolling_variance<double, 200>> d;
    double sink = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const auto r = d.push(p[i]);
      sink += r.anomaly ? 1.0 : r.z;
    }
    return sink;
  });
  add("anomaly_detector<200>", "push", "streamstats", [](const double* p, std::size_t n) {
    ss::anomaly_detector<double, 200> d;
    double sink = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const auto r = d.push(p[i]);
      sink += r.anomaly ? 1.0 : r.z;
    }
    return sink;
  });
  add("anomaly_detector<200>", "push+score", "streamstats", [](const double* p, std::size_t n) {
    ss::anomaly_detector<double, 200> d;
    double sink = 0;
    for (std::size_t i = 0; i < n; ++i) {
      sink += d.push(p[i]).score();
    }
    return sink;
  });
  // issue 10, second round: the seasonal stage (period 288, a day of 5-minute data: profile and a
  // second z-score over the residual), and report_score() (the quiet window's rank test included)
  add("anomaly_detector seasonal", "push", "streamstats", [](const double* p, std::size_t n) {
    ss::seasonal_options so;
    so.period = 288;
    ss::anomaly_detector<double> d(ss::zscore_options{}, ss::calibration_options{}, so);
    double sink = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const auto r = d.push(p[i]);
      sink += r.anomaly ? 1.0 : r.z;
    }
    return sink;
  });
  add("anomaly_detector seasonal", "push+report_score", "streamstats", [](const double* p, std::size_t n) {
    ss::seasonal_options so;
    so.period = 288;
    ss::anomaly_detector<double> d(ss::zscore_options{}, ss::calibration_options{}, so);
    double sink = 0;
    for (std::size_t i = 0; i < n; ++i) {
      sink += d.push(p[i]).report_score();
    }
    return sink;
  });
}

}  // namespace streamstats_bench
