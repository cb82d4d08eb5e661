// time_window<Acc, Buckets>: statistics over the last W of time against pandas rolling('5min')
// (tests/gen_time_window_reference.py: exact values at bucket-aligned query times, window
// (q − 5 min, q], pandas' default closed='right'), out-of-order and late samples, the window edge.
#include <catch2/catch.hpp>

#include <streamstats/ddsketch.hpp>
#include <streamstats/extrema.hpp>
#include <streamstats/mean.hpp>
#include <streamstats/time_window.hpp>
#include <streamstats/variance.hpp>
#include <support/csv.hpp>
#include <support/relative.hpp>

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

using namespace streamstats;
using namespace std::chrono_literals;
using streamstats_test::close_rel;
using streamstats_test::load_pandas_csv;

namespace {

using clock_type = std::chrono::steady_clock;
using tp = clock_type::time_point;

tp at_ns(long long ns) {
  return tp(std::chrono::duration_cast<clock_type::duration>(std::chrono::nanoseconds(ns)));
}

}  // namespace

TEST_CASE("time_window<variance, 60> over 5 minutes equals pandas rolling('5min') at bucket-aligned times",
          "[time_window]") {
  const auto samples = load_pandas_csv("time_window_samples.csv");
  const auto queries = load_pandas_csv("time_window_queries.csv");
  const auto& ts = samples.integers.at("t_ns");
  const auto& xs = samples["x"];
  const auto& qt = queries.integers.at("t_ns");
  REQUIRE(ts.size() == 12000);
  REQUIRE(qt.size() > 1500);

  time_window<variance<double>, 60> w(5min);
  time_window<mean<double>, 60> wm(5min);
  REQUIRE(w.bucket_width() == 5s);
  std::size_t next = 0;
  std::size_t empty_windows = 0;
  double worst_mean = 0;
  double worst_var = 0;
  for (std::size_t j = 0; j < qt.size(); ++j) {
    // the samples of (previous query, this query], pushed newest first: out of order, but every one
    // still inside the window, so each must land in its own bucket
    std::size_t end = next;
    while (end < ts.size() && ts[end] <= qt[j]) {
      ++end;
    }
    for (std::size_t i = end; i-- > next;) {
      REQUIRE(w.push(xs[i], at_ns(ts[i])));
      REQUIRE(wm.push(xs[i], at_ns(ts[i])));
    }
    next = end;
    const auto v = w.snapshot(at_ns(qt[j]));
    const auto m = wm.snapshot(at_ns(qt[j]));
    INFO("query " << j << " at " << qt[j] << " ns");
    REQUIRE(v.count() == static_cast<std::size_t>(queries.integers.at("count")[j]));
    REQUIRE(m.count() == v.count());
    CHECK(close_rel(v.mean(), queries["mean"][j], 1e-12));
    CHECK(close_rel(m.value(), queries["mean"][j], 1e-12));
    CHECK(close_rel(v.sample_variance(), queries["var"][j], 1e-12));
    if (v.count() == 0) {
      ++empty_windows;
    } else {
      worst_mean =
          std::max(worst_mean, std::fabs(v.mean() - queries["mean"][j]) / std::fabs(queries["mean"][j]));
    }
    if (v.count() > 1) {
      worst_var = std::max(worst_var, std::fabs(v.sample_variance() - queries["var"][j]) / queries["var"][j]);
    }
  }
  CHECK(w.rejected() == 0);
  CHECK(w.count() == ts.size());
  CHECK(empty_windows > 0);  // the 12-minute silence
  std::cout
      << "time_window<variance<double>, 60>(5min) vs pandas rolling('5min') (exact): worst relative error "
      << "mean " << worst_mean << ", variance " << worst_var << " over " << qt.size() << " queries\n";
}

TEST_CASE("time_window: the window edge has the precision of one bucket", "[time_window]") {
  // buckets of 10 s, window 60 s; one sample per second, value = its time in s
  time_window<extrema<double>, 6> w(60s);
  for (int s = 1; s <= 180; ++s) {
    w.push(static_cast<double>(s), tp(std::chrono::seconds(s)));
  }
  // aligned: exactly (120, 180]
  auto e = w.snapshot(tp(180s));
  CHECK(e.min() == 121.0);
  CHECK(e.max() == 180.0);
  for (int s = 181; s <= 185; ++s) {
    w.push(static_cast<double>(s), tp(std::chrono::seconds(s)));
  }
  // between boundaries: the window of the next boundary, (130, 190], with what has arrived (≤ 185 s):
  // the old edge is 5 s late, less than one bucket
  e = w.snapshot(tp(183s));
  CHECK(e.min() == 131.0);
  CHECK(e.max() == 185.0);
  for (int s = 186; s <= 200; ++s) {
    w.push(static_cast<double>(s), tp(std::chrono::seconds(s)));
  }
  // snapshot() without a time: at the end of the newest sample's bucket (200 s)
  CHECK(w.snapshot().min() == 141.0);
  CHECK(w.snapshot().max() == 200.0);
  CHECK(w.value() == 59.0);  // extrema's value() is the range
}

TEST_CASE(
    "time_window: late samples inside the window go to their bucket, older ones are rejected and "
    "counted",
    "[time_window]") {
  time_window<variance<double>, 12> w(60s);  // buckets of 5 s
  REQUIRE(w.push(1.0, tp(100s)));
  REQUIRE(w.push(2.0, tp(130s)));
  // 39 s late: its bucket (90, 95] is still among the last 12 buckets of 130 s, (70, 130]
  REQUIRE(w.push(3.0, tp(91s)));
  CHECK(w.snapshot(tp(130s)).count() == 3);
  CHECK(w.snapshot(tp(150s)).count() == 3);  // (90, 150]
  CHECK(w.snapshot(tp(155s)).count() == 2);  // (95, 155]: the sample at 91 s has left
  // (100, 160]: the samples at 91 and 100 have left
  CHECK(w.snapshot(tp(160s)).count() == 1);
  CHECK(w.snapshot(tp(160s)).mean() == 2.0);
  // bucket (65, 70] is 12 buckets before (125, 130]: its slot belongs to (125, 130] now
  CHECK_FALSE(w.push(4.0, tp(70s)));
  CHECK_FALSE(w.push(4.0, tp(0s)));
  CHECK(w.rejected() == 2);
  CHECK(w.count() == 3);
  REQUIRE(w.push(5.0, tp(71s)));  // bucket (70, 75]: the oldest still accepted
  CHECK(w.snapshot(tp(130s)).count() == 4);
  // a sample far in the future moves the window: everything older leaves it
  REQUIRE(w.push(6.0, tp(1000s)));
  CHECK(w.snapshot().count() == 1);
  CHECK(w.snapshot().mean() == 6.0);
  CHECK_FALSE(w.push(7.0, tp(130s)));
  w.reset();
  CHECK(w.count() == 0);
  CHECK(w.rejected() == 0);
  CHECK(w.snapshot(tp(1000s)).count() == 0);
  CHECK(std::isnan(w.snapshot(tp(1000s)).mean()));
  REQUIRE(w.push(7.0, tp(130s)));  // accepted again after reset()
  CHECK(w.span() == 60s);
}

TEST_CASE("time_window: invalid span throws naming span — the prototype configures every bucket",
          "[time_window]") {
  CHECK_THROWS_AS((time_window<mean<double>, 60>(0s)), std::invalid_argument);
  CHECK_THROWS_AS((time_window<mean<double>, 60>(-60s)), std::invalid_argument);
  try {
    time_window<mean<double>, 7> w(std::chrono::nanoseconds(100));  // not a multiple of 7 ticks
    FAIL("accepted");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find("span") != std::string::npos);
  }
  time_window<ddsketch<double, 256>, 10> w(10s, ddsketch<double, 256>(0.05));
  for (int i = 1; i <= 1000; ++i) {
    w.push(static_cast<double>(i), tp(std::chrono::milliseconds(i * 10)));
  }
  const auto s = w.snapshot(tp(10s));
  CHECK(s.alpha() == 0.05);
  CHECK(s.count() == 1000);
  CHECK(std::fabs(s.quantile(0.5) - 500.0) <= 0.05 * 500.0);
  CHECK(s.quantile(1) == 1000.0);
}
