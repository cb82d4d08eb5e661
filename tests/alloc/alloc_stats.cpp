// Allocation-free proof for the statistics of issue 16: run-time window lengths (constructing one
// and pushing 10⁶ samples allocates nothing), weighted statistics, ddsketch, time_window.
#include <catch2/catch.hpp>

#include "require_allocation_free.hpp"

#include <streamstats/streamstats.hpp>

#include <chrono>
#include <cstddef>
#include <vector>

using namespace streamstats;
using streamstats_test::allocations_during;
using streamstats_test::require_allocation_free;

TEST_CASE("windows with a run-time length allocate nothing, constructed or pushed", "[alloc]") {
  SECTION("sma<double, 4096>(300), both sum policies") {
    std::size_t made = allocations_during([] {
      sma<double, 4096> a(300);
      sma<double, 4096, window_sum::compensated> b(300);
      (void)a;
      (void)b;
    });
    CHECK(made == 0);
    sma<double, 4096> a(300);
    require_allocation_free(a);
    sma<double, 4096, window_sum::compensated> b(300);
    require_allocation_free(b);
  }
  SECTION("rolling_variance<double, 4096>(300)") {
    std::size_t made = allocations_during([] {
      rolling_variance<double, 4096> a(300);
      (void)a;
    });
    CHECK(made == 0);
    rolling_variance<double, 4096> a(300);
    require_allocation_free(a);
  }
  SECTION("rolling_extrema<double, 4096>(300)") {
    std::size_t made = allocations_during([] {
      rolling_extrema<double, 4096> a(300);
      (void)a;
    });
    CHECK(made == 0);
    rolling_extrema<double, 4096> a(300);
    require_allocation_free(a);
  }
}

TEST_CASE("weighted_mean and weighted_variance allocate nothing while pushing and merging 10^6 samples",
          "[alloc]") {
  weighted_mean<double> m;
  weighted_variance<double> v;
  weighted_mean<double> m2;
  weighted_variance<double> v2;
  const std::size_t made = allocations_during([&] {
    for (std::size_t i = 0; i < streamstats_test::alloc_test_samples; ++i) {
      const double x = static_cast<double>(i % 1000) * 0.5;
      const double w = 1.0 + static_cast<double>(i % 7);
      m.push(x, w);
      v.push(x, w);
      m2(x, -w);  // rejected pushes too
      v2(x, 0.0);
    }
    m += m2;
    v.merge(v2);
  });
  CHECK(made == 0);
  CHECK(m.count() == streamstats_test::alloc_test_samples);
  CHECK(v.count() == streamstats_test::alloc_test_samples);
  CHECK(m.rejected() == streamstats_test::alloc_test_samples);
}

TEST_CASE("ddsketch allocates nothing while pushing 10^6 samples, collapsing, merging and querying",
          "[alloc]") {
  ddsketch<double, 1024> a(0.01);
  require_allocation_free(a);
  ddsketch<double, 64> small(0.01);
  ddsketch<double, 64> other(0.02);
  double sink = 0;
  const std::size_t made = allocations_during([&] {
    for (std::size_t i = 0; i < streamstats_test::alloc_test_samples; ++i) {
      // magnitudes over 1e-6 .. 1e6 and both signs: 64 bins collapse over and over
      const double x = static_cast<double>((i * 7919) % 1000001) * 1e-6 * static_cast<double>(i % 13 + 1);
      small.push(i % 3 == 0 ? -x : x * 1e6);
      other.push(x);
    }
    small += other;
    sink += small.quantile(0.5) + small.quantile(0.999) + a.quantile(0.1);
  });
  CHECK(made == 0);
  CHECK(small.collapsed());
  CHECK(sink == sink);
}

TEST_CASE("time_window allocates nothing while pushing 10^6 timed samples and taking snapshots", "[alloc]") {
  using tp = std::chrono::steady_clock::time_point;
  time_window<variance<double>, 60> w(std::chrono::minutes(5));
  time_window<ddsketch<double, 64>, 8> q(std::chrono::seconds(8), ddsketch<double, 64>(0.02));
  double sink = 0;
  const std::size_t made = allocations_during([&] {
    for (std::size_t i = 0; i < streamstats_test::alloc_test_samples; ++i) {
      const tp t(std::chrono::milliseconds(i * 3 - (i % 5) * 7 + 100));  // slightly out of order
      const double x = static_cast<double>(i % 1000) * 0.5;
      w.push(x, t);
      q.push(x, t);
      if (i % 1000 == 0) {
        sink += w.snapshot(t).mean() + q.snapshot(t).quantile(0.9);
      }
    }
    w.push(1.0, tp(std::chrono::milliseconds(0)));  // too late: rejected
  });
  CHECK(made == 0);
  CHECK(w.count() == streamstats_test::alloc_test_samples);
  CHECK(w.rejected() == 1);
  CHECK(sink == sink);
}
