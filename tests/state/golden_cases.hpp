// The states behind tests/data/state/*.bin (written by gen_state_golden.cpp, read by test_state.cpp)
// and the shards of the cross-process merge test (state_shard_tool.cpp). The data come from integer
// arithmetic and exact conversions only (no libm, no <random> distributions), so every platform
// builds the same states.
#pragma once

#include <streamstats/state.hpp>
#include <streamstats/streamstats.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace streamstats_golden {

// A 64-bit LCG (Knuth's MMIX constants); the top 53 bits as a double in [0, 1), exactly.
inline double uniform(std::uint64_t i) {
  std::uint64_t s = i * 0x9E3779B97F4A7C15ULL + 1442695040888963407ULL;
  s = s * 6364136223846793005ULL + 1442695040888963407ULL;
  return static_cast<double>(s >> 11) * 0x1.0p-53;
}

// Noise around 50 with spikes, a level shift at 400, and NaN/Inf at fixed places.
inline double sample(std::size_t i) {
  double x = 50.0 + 4.0 * (uniform(i) - 0.5) + 2.0 * (uniform(i + 1000003) - 0.5);
  if (i >= 400) {
    x += 30.0;
  }
  if (i % 89 == 50) {
    x += 60.0;
  }
  if (i == 123) {
    x = std::numeric_limits<double>::quiet_NaN();
  }
  if (i == 321) {
    x = std::numeric_limits<double>::infinity();
  }
  return x;
}

template <class A>
A fed(A a, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    a.push(static_cast<typename A::value_type>(sample(i)));
  }
  return a;
}

// Calls f(name, builder) for every golden case; builder() returns the accumulator whose state the
// golden file holds. Add cases at the end; never change one (see docs/state-format.md).
template <class F>
void for_each_case(F&& f) {
  namespace ss = streamstats;
  f("mean_double", [] { return fed(ss::mean<double>{}, 500); });
  f("variance_float", [] { return fed(ss::variance<float>{}, 500); });
  f("moments_double", [] { return fed(ss::moments<double>{}, 300); });
  f("extrema_double", [] { return fed(ss::extrema<double>{}, 300); });
  f("autocorrelation_double", [] { return fed(ss::autocorrelation<double>{}, 300); });
  f("sma_double_16_recompute", [] { return fed(ss::sma<double, 16>{}, 333); });
  f("sma_double_16_compensated", [] { return fed(ss::sma<double, 16, ss::window_sum::compensated>{}, 330); });
  f("rolling_variance_double_32", [] { return fed(ss::rolling_variance<double, 32>{}, 340); });
  f("rolling_extrema_double_16", [] { return fed(ss::rolling_extrema<double, 16>{}, 130); });
  f("ema_double_adjust_false", [] { return fed(ss::ema<double>(0.125), 200); });
  f("ema_double_adjust_true",
    [] { return fed(ss::ema<double>(0.125, ss::ema_convention::pandas_adjust_true), 200); });
  f("ema_double_talib_10",
    [] { return fed(ss::ema<double>::from_span(10, ss::ema_convention::talib), 200); });
  f("ew_variance_double", [] { return fed(ss::ew_variance<double>(0.0625), 200); });
  f("quantile_double_0.9", [] { return fed(ss::quantile<double>(0.9), 500); });
  f("time_ema_double", [] {
    ss::time_ema<double> e(std::chrono::seconds(1));
    for (std::size_t i = 0; i < 50; ++i) {
      e.push(sample(i), std::chrono::steady_clock::time_point(std::chrono::seconds(2 * i)));
    }
    return e;
  });
  f("multi_mean_variance_extrema",
    [] { return fed(ss::multi<ss::mean<double>, ss::variance<double>, ss::extrema<double>>{}, 250); });
  f("anomaly_detector_double", [] { return fed(ss::anomaly_detector<double>{}, 420); });
  f("zscore_detector_ew_variance",
    [] { return fed(ss::zscore_detector<ss::ew_variance<double>>(ss::ew_variance<double>(0.05)), 420); });
  // 32 bins of α = 1% span a ratio of ~1.9: the level shift at 400 collapses the lowest keys.
  f("ddsketch_double_32", [] { return fed(ss::ddsketch<double, 32>(0.01), 500); });
  f("time_window_variance_4", [] {
    // 4 buckets of 1 s; samples 250 ms apart, every 7th 1.5 s late, every 31st 5 s late (rejected).
    ss::time_window<ss::variance<double>, 4> w(std::chrono::seconds(4));
    for (std::size_t i = 0; i < 60; ++i) {
      auto ms = static_cast<std::int64_t>(250 * i);
      ms -= i % 7 == 3 ? 1500 : 0;
      ms -= i % 31 == 20 ? 5000 : 0;
      w.push(sample(i), std::chrono::steady_clock::time_point(std::chrono::milliseconds(ms)));
    }
    return w;
  });
  f("anomaly_detector_double_seasonal_24", [] {
    ss::seasonal_options so;
    so.period = 24;
    return fed(ss::anomaly_detector<double>(ss::zscore_options{}, ss::calibration_options{}, so), 420);
  });
}

// The mergeable accumulators a shard computes.
using shard_state = streamstats::multi<streamstats::mean<double>, streamstats::variance<double>,
                                       streamstats::moments<double>, streamstats::extrema<double>>;

inline constexpr std::size_t shard_data_length = 20000;

// Shard i of n: a contiguous slice of the finite data 1e6 + noise (shard_of(0, 1) is one pass).
inline shard_state shard_of(int i, int n) {
  shard_state s;
  const std::size_t lo = shard_data_length * static_cast<std::size_t>(i) / static_cast<std::size_t>(n);
  const std::size_t hi = shard_data_length * static_cast<std::size_t>(i + 1) / static_cast<std::size_t>(n);
  for (std::size_t k = lo; k < hi; ++k) {
    s.push(1e6 + uniform(k) * uniform(k + 7) * 10.0);
  }
  return s;
}

}  // namespace streamstats_golden
