// save_state / load_state (streamstats/state.hpp): every accumulator and detector restored mid-stream
// continues bit for bit; every kind of bad input gives its own error and leaves the target untouched;
// shards saved by other processes merge to the one-pass result; the golden files of format versions 1 and 2
// still load.
#include <catch2/catch.hpp>

#include "state/golden_cases.hpp"
#include "support/state_harness.hpp"

#include <streamstats/state.hpp>
#include <streamstats/streamstats.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace ss = streamstats;
using streamstats_test::require_restores_exactly;

namespace {

constexpr std::size_t stream_length = 700;

// Noise, spikes, a level shift, a variance burst, a flat stretch, and a few NaN/±Inf: the inputs
// that reach every branch (windows with non-finite samples, detector episodes and re-learns).
const std::vector<double>& stream() {
  static const std::vector<double> xs = [] {
    std::mt19937_64 rng(20261202);
    std::normal_distribution<double> noise(0.0, 1.0);
    std::vector<double> v(stream_length);
    for (std::size_t i = 0; i < v.size(); ++i) {
      double x = 100.0 + noise(rng);
      if (i >= 300) {
        x += 1000.0;  // level shift: re-learn
      }
      if (i >= 450 && i < 500) {
        x += 6.0 * noise(rng);  // variance burst
      }
      if (i >= 550 && i < 580) {
        x = 1100.0;  // flat
      }
      if (i % 97 == 60) {
        x += 40.0;  // spike
      }
      if (i % 131 == 17) {
        x = std::numeric_limits<double>::quiet_NaN();
      }
      if (i == 211) {
        x = std::numeric_limits<double>::infinity();
      }
      if (i == 212) {
        x = -std::numeric_limits<double>::infinity();
      }
      v[i] = x;
    }
    return v;
  }();
  return xs;
}

template <class T>
T at(std::size_t i) {
  return static_cast<T>(stream()[i]);
}

// Early cuts (empty, one sample, the window filling), random ones, and the ones a test names.
std::vector<std::size_t> cuts(std::vector<std::size_t> extra = {}) {
  std::vector<std::size_t> c = {0, 1, 2, 3, 5, 6, 7, 15, 16, 17, 63, 64, 65};
  std::mt19937_64 rng(7);
  for (int i = 0; i < 6; ++i) {
    c.push_back(static_cast<std::size_t>(rng() % stream_length));
  }
  c.insert(c.end(), extra.begin(), extra.end());
  return c;
}

template <class A>
void require_scalar_restores(const A& proto, std::vector<std::size_t> extra = {}) {
  using T = typename A::value_type;
  require_restores_exactly(
      proto, [](A& a, std::size_t i) { return a.push(at<T>(i)); }, stream_length, cuts(std::move(extra)));
}

}  // namespace

TEST_CASE("cumulative accumulators continue bit for bit after save and load") {
  require_scalar_restores(ss::mean<double>{});
  require_scalar_restores(ss::mean<float>{});
  require_scalar_restores(ss::variance<double>{});
  require_scalar_restores(ss::variance<float>{});
  require_scalar_restores(ss::moments<double>{});
  require_scalar_restores(ss::extrema<double>{});
  require_scalar_restores(ss::autocorrelation<double>{});
}

TEST_CASE("windows continue bit for bit when cut mid-ring, while filling and with NaN/Inf inside") {
  require_scalar_restores(ss::sma<double, 16>{}, {205, 211, 212, 213, 220});
  require_scalar_restores(ss::sma<double, 16, ss::window_sum::compensated>{}, {211, 212, 220});
  require_scalar_restores(ss::sma<float, 7>{});
  require_scalar_restores(ss::sma<double, 1>{});
  require_scalar_restores(ss::rolling_variance<double, 32>{}, {211, 212, 230, 244});
  require_scalar_restores(ss::rolling_variance<float, 5>{});
  require_scalar_restores(ss::rolling_extrema<double, 16>{}, {148, 150, 211, 212});
  require_scalar_restores(ss::rolling_extrema<float, 3>{});
}

TEST_CASE("windows of a run-time length shorter than their capacity continue bit for bit") {
  require_scalar_restores(ss::sma<double, 16>(10), {9, 10, 11, 211, 212});
  require_scalar_restores(ss::sma<double, 16, ss::window_sum::compensated>(3));
  require_scalar_restores(ss::rolling_variance<double, 32>(20), {19, 20, 21, 211, 212});
  require_scalar_restores(ss::rolling_extrema<double, 16>(5), {4, 5, 6, 211, 212});
  // The length travels with the state.
  ss::sma<double, 16> target;
  REQUIRE(ss::load_state(ss::save_state(ss::sma<double, 16>(7)), target) == ss::state_errc::ok);
  CHECK(target.window() == 7);
}

TEST_CASE("every EMA convention continues bit for bit") {
  require_scalar_restores(ss::ema<double>(0.1));
  require_scalar_restores(ss::ema<double>(0.05, ss::ema_convention::pandas_adjust_true));
  require_scalar_restores(ss::ema<double>::from_span(10, ss::ema_convention::talib), {8, 9, 10, 11});
  require_scalar_restores(ss::ema<float>::from_halflife(12.5f));
  require_scalar_restores(ss::ew_variance<double>(0.1));
  require_scalar_restores(ss::ew_variance<double>::from_com(9.0, ss::ema_convention::pandas_adjust_true));
}

TEST_CASE("time_ema continues bit for bit in both conventions, out-of-order samples included") {
  using clock = std::chrono::steady_clock;
  const auto when = [](std::size_t i) {
    // Irregular spacing, with sample 100 stamped before its predecessor (rejected).
    const auto ms = static_cast<std::int64_t>(i * 250 + (i * i) % 173) - (i == 100 ? 500 : 0);
    return clock::time_point(std::chrono::milliseconds(ms));
  };
  for (const auto conv : {ss::ema_convention::pandas_adjust_true, ss::ema_convention::pandas_adjust_false}) {
    const ss::time_ema<double> proto(std::chrono::seconds(3), conv);
    require_restores_exactly(
        proto, [&when](ss::time_ema<double>& e, std::size_t i) { return e.push(at<double>(i), when(i)); },
        stream_length, cuts({100, 101}));
  }
}

TEST_CASE("anomaly_detector fed with timestamps continues bit for bit while and after learning its pace") {
  // A sample every 5 minutes with a 2-hour cycle (24 samples), a gap at 40 and a repeated time at 60:
  // cuts while the spacings are collected, at the decision (32nd spacing) and with the profile in use.
  ss::seasonal_options so;
  so.cycle = 7200.0;
  const ss::anomaly_detector<double> proto(ss::zscore_options{}, ss::calibration_options{}, so);
  const auto when = [](std::size_t i) {
    const auto s =
        static_cast<std::int64_t>(1700000000 + 300 * i + (i > 40 ? 3600 : 0) - (i == 60 ? 300 : 0));
    return std::chrono::system_clock::time_point(std::chrono::seconds(s));
  };
  require_restores_exactly(
      proto,
      [&when](ss::anomaly_detector<double>& d, std::size_t i) {
        return d.push(at<double>(i) + ((i % 24) < 6 ? 15.0 : 0.0), when(i));
      },
      stream_length, cuts({5, 32, 33, 34, 60, 61, 200}));
  auto d = proto;
  for (std::size_t i = 0; i < 200; ++i) {
    (void)d.push(at<double>(i) + ((i % 24) < 6 ? 15.0 : 0.0), when(i));
  }
  CHECK(d.period() == 24);  // the cuts above cover a learned period
  CHECK(d.pace() == 300.0);
}

TEST_CASE("weighted accumulators continue bit for bit, rejected weights included") {
  const auto weight = [](std::size_t i) {
    return i % 53 == 7 ? -1.0 : (i % 41 == 3 ? 0.0 : 0.25 + static_cast<double>(i % 9));
  };
  require_restores_exactly(
      ss::weighted_mean<double>{},
      [&weight](ss::weighted_mean<double>& a, std::size_t i) { return a.push(at<double>(i), weight(i)); },
      stream_length, cuts());
  require_restores_exactly(
      ss::weighted_variance<double>{},
      [&weight](ss::weighted_variance<double>& a, std::size_t i) { return a.push(at<double>(i), weight(i)); },
      stream_length, cuts());
}

TEST_CASE("quantile continues bit for bit, from its five exact samples to the P2 markers") {
  require_scalar_restores(ss::quantile<double>(0.9), {4, 8});
  require_scalar_restores(ss::quantile<float>(0.5f));
}

TEST_CASE("score_rank continues bit for bit") {
  require_scalar_restores(ss::score_rank<double>(200.0));
  require_scalar_restores(ss::score_rank<float, 16>(50.0f, 0.5f));
}

TEST_CASE("multi continues bit for bit") {
  using M = ss::multi<ss::mean<double>, ss::variance<double>, ss::extrema<double>, ss::sma<double, 8>,
                      ss::ema<double>, ss::quantile<double>>;
  require_scalar_restores(M(ss::mean<double>{}, ss::variance<double>{}, ss::extrema<double>{},
                            ss::sma<double, 8>{}, ss::ema<double>(0.2), ss::quantile<double>(0.25)));
}

namespace {

// Like require_restores_exactly, with the getters that take arguments: probe(acc, i) (after sample i)
// must give the same bits on the restored object as on the uninterrupted run, after every push.
template <class A, class Push, class Probe>
void require_probe_continues(const A& proto, Push push, Probe probe, const std::vector<std::size_t>& cut_at) {
  std::vector<std::vector<std::uint64_t>> expected(stream_length + 1);
  A whole = proto;
  expected[0] = probe(whole, 0);
  for (std::size_t i = 0; i < stream_length; ++i) {
    push(whole, i);
    expected[i + 1] = probe(whole, i);
  }
  for (const std::size_t k : cut_at) {
    INFO("cut after " << k << " samples");
    A part = proto;
    for (std::size_t i = 0; i < k; ++i) {
      push(part, i);
    }
    A restored = ss::load_state<A>(ss::save_state(part));
    REQUIRE(probe(restored, k == 0 ? 0 : k - 1) == expected[k]);
    for (std::size_t i = k; i < stream_length; ++i) {
      push(restored, i);
      if (probe(restored, i) != expected[i + 1]) {
        FAIL_CHECK("probed getters differ from the uninterrupted run after sample " << i);
        break;
      }
    }
  }
}

// The stream with negatives (every fifth sample) and zeros (every 37th): both stores, the zero
// count, NaN (rejected) and ±Inf.
double signed_sample(std::size_t i) {
  const double x = at<double>(i);
  return i % 37 == 0 ? 0.0 : (i % 5 == 2 ? -x : x);
}

template <class S>
std::vector<std::uint64_t> sketch_bits(const S& s) {
  streamstats_test::snapshot b;
  b.add(s.count());
  b.add(s.rejected());
  b.add(s.zero_count());
  b.add(s.collapsed());
  b.add(s.min());
  b.add(s.max());
  b.add(s.alpha());
  for (const double q : {0.0, 0.001, 0.01, 0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9,
                         0.95, 0.99, 0.999, 1.0}) {
    b.add(s.quantile(q));
  }
  return b.bits;
}

template <class S>
void require_sketch_restores(const S& proto) {
  using T = typename S::value_type;
  const auto push = [](S& s, std::size_t i) { s.push(static_cast<T>(signed_sample(i))); };
  // Cut just before and after the first collapse too.
  S s = proto;
  std::size_t first_collapse = 0;
  for (std::size_t i = 0; i < stream_length && first_collapse == 0; ++i) {
    push(s, i);
    first_collapse = s.collapsed() ? i + 1 : 0;
  }
  REQUIRE(first_collapse > 1);
  const auto c = cuts({first_collapse - 1, first_collapse, first_collapse + 1, 211, 212, 213});
  require_restores_exactly(proto, push, stream_length, c);
  require_probe_continues(
      proto, push, [](const S& x, std::size_t) { return sketch_bits(x); }, c);
}

}  // namespace

TEST_CASE("ddsketch continues bit for bit: both stores, zeros, NaN/Inf, before and after a collapse") {
  require_sketch_restores(ss::ddsketch<double, 64>(0.01));
  require_sketch_restores(ss::ddsketch<float, 128>(0.005));
  // Restored, the bins are the original's (operator== compares them).
  ss::ddsketch<double, 64> s(0.01);
  for (std::size_t i = 0; i < stream_length; ++i) {
    s.push(signed_sample(i));
  }
  REQUIRE(s.collapsed());
  CHECK(ss::load_state<ss::ddsketch<double, 64>>(ss::save_state(s)) == s);
}

TEST_CASE("ddsketch shards saved, loaded and merged equal the one-pass sketch bit for bit") {
  using S = ss::ddsketch<double, 64>;
  S one(0.01);
  S merged(0.01);
  constexpr std::size_t shards = 5;
  for (std::size_t k = 0; k < shards; ++k) {
    S shard(0.01);
    for (std::size_t i = k * stream_length / shards; i < (k + 1) * stream_length / shards; ++i) {
      shard.push(signed_sample(i));
      one.push(signed_sample(i));
    }
    merged += ss::load_state<S>(ss::save_state(shard));
  }
  REQUIRE(one.collapsed());
  CHECK(merged == one);
  CHECK(sketch_bits(merged) == sketch_bits(one));
  CHECK(ss::save_state(merged) == ss::save_state(one));
}

namespace {

// Timestamps 300 ms apart with jitter; every 23rd sample 2.5 s late (still in its window, goes to an
// older bucket), every 41st 12 s late (rejected: its bucket is gone).
std::chrono::steady_clock::time_point stamp(std::size_t i) {
  auto ms = static_cast<std::int64_t>(i * 300 + (i * i) % 97);
  if (i % 23 == 5) {
    ms -= 2500;
  }
  if (i % 41 == 9) {
    ms -= 12000;
  }
  return std::chrono::steady_clock::time_point(std::chrono::milliseconds(ms));
}

template <class W, class Bits>
void require_window_restores(const W& proto, Bits bits) {
  using T = typename W::value_type;
  const auto push = [](W& w, std::size_t i) { return w.push(at<T>(i), stamp(i)); };
  // Not between 212 and ~240, while a bucket holds +Inf and −Inf: its variance's mean is then a NaN
  // whose sign bit the format does not keep (one canonical NaN), so value() would differ in that bit.
  const auto c = cuts({9, 10, 28, 29, 50, 51, 211, 245});
  require_restores_exactly(proto, push, stream_length, c);
  // Snapshots before, at and after the newest sample, one past the whole window, and snapshot().
  const auto probe = [&bits](const W& w, std::size_t i) {
    std::vector<std::uint64_t> b;
    const auto now = stamp(i);
    for (const auto t : {now - std::chrono::milliseconds(3100), now, now + std::chrono::milliseconds(1500),
                         now + std::chrono::seconds(30)}) {
      const auto part = bits(w.snapshot(t));
      b.insert(b.end(), part.begin(), part.end());
    }
    const auto last = bits(w.snapshot());
    b.insert(b.end(), last.begin(), last.end());
    b.push_back(w.count());
    b.push_back(w.rejected());
    return b;
  };
  require_probe_continues(proto, push, probe, c);
}

}  // namespace

TEST_CASE("time_window continues bit for bit: snapshots at several times, late and rejected samples") {
  using V = ss::time_window<ss::variance<double>, 8>;
  const V v(std::chrono::seconds(8));
  require_window_restores(v, [](const ss::variance<double>& x) { return streamstats_test::bits_of(x); });
  using D = ss::time_window<ss::ddsketch<double, 64>, 4>;
  const D d(std::chrono::seconds(2), ss::ddsketch<double, 64>(0.02));
  require_window_restores(d, [](const ss::ddsketch<double, 64>& x) { return sketch_bits(x); });
  // The span (and the prototype's α) travel with the state.
  ss::time_window<ss::ddsketch<double, 64>, 4> target(std::chrono::seconds(40));
  D w = d;
  w.push(2.0, stamp(40));
  w.push(1.0, stamp(3));  // 11 s older: rejected
  REQUIRE(ss::load_state(ss::save_state(w), target) == ss::state_errc::ok);
  CHECK(target.span() == std::chrono::seconds(2));
  CHECK(target.bucket_width() == std::chrono::milliseconds(500));
  CHECK(target.snapshot(stamp(3) + std::chrono::seconds(100)).alpha() == 0.02);
  CHECK(target.rejected() == 1);
}

namespace {

// Cuts where the detector is in an episode, in the run that leads to a re-learn, right after a
// re-learn (baseline re-warming), and during warm-up.
template <class D>
std::vector<std::size_t> detector_cuts(const D& proto, bool expect_relearn) {
  D d = proto;
  std::vector<std::size_t> c;
  std::size_t relearns = 0;
  bool episode_cut = false;
  for (std::size_t i = 0; i < stream_length; ++i) {
    d.push(at<typename D::value_type>(i));
    if (d.in_episode() && !episode_cut) {
      c.push_back(i + 1);
      episode_cut = true;
    }
    if (d.relearns() > relearns) {
      relearns = d.relearns();
      c.push_back(i);      // mid-run, the sample before the re-learn
      c.push_back(i + 1);  // just after
      c.push_back(i + 5);  // re-warming
    }
  }
  INFO(ss::detail::state_kind_name(static_cast<unsigned char>(ss::save_state(proto)[12])));
  REQUIRE(episode_cut);
  REQUIRE((relearns > 0) == expect_relearn);
  c.push_back(10);
  return c;
}

template <class D>
void require_detector_restores(const D& proto, bool expect_relearn = true) {
  using T = typename D::value_type;
  require_restores_exactly(
      proto, [](D& d, std::size_t i) { return d.push(at<T>(i)); }, stream_length,
      cuts(detector_cuts(proto, expect_relearn)));
}

}  // namespace

TEST_CASE("detectors continue bit for bit mid-episode and mid-relearn") {
  require_detector_restores(ss::anomaly_detector<double>{});
  require_detector_restores(ss::anomaly_detector<float>{});
  {
    // The seasonal stage (profile and the residual's z-score) and the quiet window travel too.
    ss::seasonal_options so;
    so.period = 24;
    ss::calibration_options c;
    c.quiet = 7;
    c.learning = 50;
    require_detector_restores(ss::anomaly_detector<double>(ss::zscore_options{}, c, so));
  }
  ss::zscore_options o;
  o.learning = ss::zscore_learning::skip;
  o.side = ss::zscore_side::upper;
  o.relearn_after = 8;
  require_detector_restores(ss::zscore_detector<ss::variance<double>>(ss::variance<double>{}, o));
  require_detector_restores(
      ss::zscore_detector<ss::ew_variance<double>>(ss::ew_variance<double>::from_span(40)));
  // Learning every sample, the window absorbs the shift before a run of anomalies: no re-learn.
  o.learning = ss::zscore_learning::all;
  o.side = ss::zscore_side::both;
  o.min_stddev = 0.5;
  require_detector_restores(
      ss::zscore_detector<ss::rolling_variance<double, 50>>(ss::rolling_variance<double, 50>{}, o), false);
}

TEST_CASE("run-time parameters travel with the state: alpha, convention, p, detector options") {
  ss::ema<double> e = ss::ema<double>::from_span(10, ss::ema_convention::talib);
  e.push(1.0);
  const auto back = ss::load_state<ss::ema<double>>(ss::save_state(e));
  CHECK(back.alpha() == e.alpha());
  CHECK(back.convention() == ss::ema_convention::talib);
  CHECK(back.period() == 10);

  ss::ema<double> target(0.7);
  REQUIRE(ss::load_state(ss::save_state(e), target) == ss::state_errc::ok);
  CHECK(target.period() == 10);

  ss::zscore_options o;
  o.threshold = 3.25;
  o.cooldown = 4;
  const ss::anomaly_detector<double> d(o);
  const auto d2 = ss::load_state<ss::anomaly_detector<double>>(ss::save_state(d));
  CHECK(d2.options().threshold == 3.25);
  CHECK(d2.options().cooldown == 4);
  ss::seasonal_options so;
  so.period = 48;
  so.slot_alpha = 0.125;
  so.use_ratio = 0.75;
  ss::calibration_options c;
  c.quiet = 5;
  const auto d3 = ss::load_state<ss::anomaly_detector<double>>(
      ss::save_state(ss::anomaly_detector<double>(ss::zscore_options{}, c, so)));
  CHECK(d3.seasonal().period == 48);
  CHECK(d3.seasonal().slot_alpha == 0.125);
  CHECK(d3.seasonal().use_ratio == 0.75);
  CHECK(d3.calibration().quiet == 5);
  CHECK(ss::load_state<ss::quantile<double>>(ss::save_state(ss::quantile<double>(0.99))).probability() ==
        0.99);
}

// ---- the checksum -------------------------------------------------------------------------------

namespace {
// CRC-32C bit by bit, straight from its definition (reflected polynomial 0x82F63B78, initial value
// and final XOR 0xFFFFFFFF): the reference for the library's table and SSE4.2 paths.
std::uint32_t crc32c_bitwise(const unsigned char* p, std::size_t n) {
  std::uint32_t c = 0xFFFFFFFFU;
  for (std::size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) {
      c = (c & 1U) != 0 ? (c >> 1) ^ 0x82F63B78U : c >> 1;
    }
  }
  return c ^ 0xFFFFFFFFU;
}
}  // namespace

TEST_CASE("CRC-32C matches the published check values and a bitwise reference at every length") {
  const auto crc = [](const std::vector<unsigned char>& v) { return ss::detail::crc32c(v.data(), v.size()); };
  // The CRC catalogue's check value, and RFC 3720 (iSCSI) appendix B.4's test vectors.
  const std::string check = "123456789";
  CHECK(ss::detail::crc32c(reinterpret_cast<const unsigned char*>(check.data()), check.size()) ==
        0xE3069283U);
  std::vector<unsigned char> v(32, 0x00);
  CHECK(crc(v) == 0x8A9136AAU);
  v.assign(32, 0xFF);
  CHECK(crc(v) == 0x62A8AB43U);
  for (std::size_t i = 0; i < 32; ++i) {
    v[i] = static_cast<unsigned char>(i);
  }
  CHECK(crc(v) == 0x46DD794EU);
  // Every length up to past four interleaved 3 x 256-byte blocks, at every alignment mod 8: the
  // interleaved chains, their joins and the tails must all agree with the definition.
  std::mt19937_64 rng(17);
  std::vector<unsigned char> buf(3300);
  for (auto& b : buf) {
    b = static_cast<unsigned char>(rng());
  }
  std::size_t mismatches = 0;
  for (std::size_t n = 0; n <= 3200; ++n) {
    const std::size_t off = n % 8;
    const std::uint32_t want = crc32c_bitwise(buf.data() + off, n);
    mismatches += ss::detail::crc32c(buf.data() + off, n) != want ? 1U : 0U;
    mismatches += ss::detail::crc32c_portable(buf.data() + off, n) != want ? 1U : 0U;
  }
  CHECK(mismatches == 0);
}

// ---- errors -------------------------------------------------------------------------------------

namespace {

std::string reseal(std::string b) {
  const std::size_t body = b.size() - 4;
  const std::uint32_t crc = ss::detail::crc32c(reinterpret_cast<const unsigned char*>(b.data()), body);
  for (std::size_t i = 0; i < 4; ++i) {
    b[body + i] = static_cast<char>((crc >> (8 * i)) & 0xFFU);
  }
  return b;
}

std::size_t payload_offset(const std::string& b) {
  return 12 + (static_cast<std::size_t>(static_cast<unsigned char>(b[6])) |
               static_cast<std::size_t>(static_cast<unsigned char>(b[7])) << 8);
}

void put_u64(std::string& b, std::size_t at, std::uint64_t v) {
  for (std::size_t i = 0; i < 8; ++i) {
    b[at + i] = static_cast<char>((v >> (8 * i)) & 0xFFU);
  }
}

void put_f64(std::string& b, std::size_t at, double x) {
  std::uint64_t v = 0;
  std::memcpy(&v, &x, 8);
  put_u64(b, at, v);
}

ss::anomaly_detector<double> busy_detector() {
  ss::anomaly_detector<double> d;
  for (std::size_t i = 0; i < 320; ++i) {
    d.push(stream()[i]);
  }
  return d;
}

// The non-throwing load must fail with `ec` and leave the target exactly as it was; the throwing one
// must throw state_error with the same code and a message that contains `words`.
template <class A>
void require_load_error(const std::string& bytes, ss::state_errc ec, const A& target,
                        const std::string& words) {
  INFO("expected error: " << words);
  A t = target;
  const std::string before = ss::save_state(t);
  CHECK(ss::load_state(bytes, t) == ec);
  CHECK(ss::save_state(t) == before);
  try {
    (void)ss::load_state<A>(bytes);
    FAIL("load_state<A> did not throw");
  } catch (const ss::state_error& e) {
    CHECK(e.code() == ec);
    CHECK_THAT(e.what(), Catch::Contains(words));
  }
}

}  // namespace

TEST_CASE("every truncation of a state is refused as truncated, and the target is untouched") {
  const auto d = busy_detector();
  const std::string good = ss::save_state(d);
  for (std::size_t n = 0; n < good.size(); ++n) {
    ss::anomaly_detector<double> t = busy_detector();
    t.push(1.0);
    const std::string before = ss::save_state(t);
    REQUIRE(ss::load_state(std::string_view(good.data(), n), t) == ss::state_errc::truncated);
    REQUIRE(ss::save_state(t) == before);
  }
  require_load_error(good.substr(0, good.size() - 1), ss::state_errc::truncated, d, "truncated");
  require_load_error(good + '\0', ss::state_errc::trailing_bytes, d, "trailing");
}

TEST_CASE("wrong magic and other format versions are refused with their own errors") {
  const auto d = busy_detector();
  const std::string good = ss::save_state(d);
  std::string b = good;
  b[0] = 'X';
  require_load_error(b, ss::state_errc::bad_magic, d, "magic");
  require_load_error("{\"count\": 3}", ss::state_errc::bad_magic, d, "magic");
  b = good;
  b[4] = 3;  // version 3: newer than this build
  require_load_error(reseal(b), ss::state_errc::unsupported_version, d,
                     "version 3, this build reads version 2");
  b[4] = 0;  // version 0: older
  require_load_error(reseal(b), ss::state_errc::unsupported_version, d, "older");
}

TEST_CASE("a flipped bit anywhere after the header fails the checksum") {
  const auto d = busy_detector();
  const std::string good = ss::save_state(d);
  ss::anomaly_detector<double> target = busy_detector();
  const std::string before = ss::save_state(target);
  std::size_t checked = 0;
  for (std::size_t byte = 12; byte < good.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string b = good;
      b[byte] = static_cast<char>(b[byte] ^ (1 << bit));
      REQUIRE(ss::load_state(b, target) == ss::state_errc::checksum_mismatch);
      ++checked;
    }
  }
  CHECK(ss::save_state(target) == before);
  CHECK(checked == (good.size() - 12) * 8);
  std::string b = good;
  b[100] = static_cast<char>(b[100] ^ 4);
  require_load_error(b, ss::state_errc::checksum_mismatch, d, "corrupted");
  // Bits in the header: each still gives an error, never a load.
  for (std::size_t byte = 0; byte < 12; ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string h = good;
      h[byte] = static_cast<char>(h[byte] ^ (1 << bit));
      CHECK(ss::load_state(h, target) != ss::state_errc::ok);
    }
  }
}

TEST_CASE("a state of another type, value type or template parameters is refused") {
  ss::mean<double> m;
  m.push(1.0);
  const ss::variance<double> v;
  require_load_error(ss::save_state(m), ss::state_errc::type_mismatch, v,
                     "hold a mean state, the target is a variance");
  require_load_error(ss::save_state(m), ss::state_errc::type_mismatch, ss::mean<float>{}, "value type");
  require_load_error(ss::save_state(ss::sma<double, 16>{}), ss::state_errc::parameter_mismatch,
                     ss::sma<double, 17>{}, "template parameters");
  require_load_error(ss::save_state(ss::sma<double, 16>{}), ss::state_errc::parameter_mismatch,
                     ss::sma<double, 16, ss::window_sum::compensated>{}, "template parameters");
  require_load_error(ss::save_state(ss::rolling_variance<double, 64>{}), ss::state_errc::parameter_mismatch,
                     ss::rolling_variance<double, 63>{}, "template parameters");
  const ss::zscore_detector<ss::variance<double>> zv(ss::variance<double>{});
  const ss::zscore_detector<ss::ew_variance<double>> ze(ss::ew_variance<double>(0.1));
  require_load_error(ss::save_state(zv), ss::state_errc::parameter_mismatch, ze, "zscore_detector");
  // anomaly_detector<double> is a zscore_detector<rolling_variance<double, 64>>, but a type of its own.
  const ss::zscore_detector<ss::rolling_variance<double, 64>> zr(ss::rolling_variance<double, 64>{});
  require_load_error(ss::save_state(busy_detector()), ss::state_errc::type_mismatch, zr,
                     "hold a anomaly_detector state");
  using M1 = ss::multi<ss::mean<double>, ss::variance<double>>;
  using M2 = ss::multi<ss::mean<double>, ss::extrema<double>>;
  require_load_error(ss::save_state(M1{}), ss::state_errc::parameter_mismatch, M2{}, "multi");
}

TEST_CASE("inconsistent fields are refused with a reason, even with a valid checksum") {
  // rolling_variance payload: window, then n, size, head, m, since_recompute, nan, +inf, -inf, 1/m,
  // shift, mean, M2, churn, then the samples.
  ss::rolling_variance<double, 8> rv;
  for (int i = 0; i < 20; ++i) {
    rv.push(i * 0.5);
  }
  const std::string rv_good = ss::save_state(rv);
  const std::size_t p = payload_offset(rv_good) + 8;
  std::string b = rv_good;
  put_u64(b, p + 8, 7);  // a fill of 7 after 20 pushes
  require_load_error(reseal(b), ss::state_errc::invalid_field, rv, "fill disagrees with the count");
  b = rv_good;
  put_u64(b, p + 16, 9);  // write position past the ring
  require_load_error(reseal(b), ss::state_errc::invalid_field, rv, "write position");
  b = rv_good;
  put_u64(b, p + 40, 1);  // one NaN counted, none in the window
  require_load_error(reseal(b), ss::state_errc::invalid_field, rv, "NaN/Inf counts");
  b = rv_good;
  put_f64(b, p + 13 * 8 + 3 * 8, std::numeric_limits<double>::quiet_NaN());  // a NaN sample in the window
  require_load_error(reseal(b), ss::state_errc::invalid_field, rv, "finite samples");
  b = rv_good;
  put_f64(b, p + 11 * 8, -1.0);  // negative M2
  require_load_error(reseal(b), ss::state_errc::invalid_field, rv, "negative M2");

  // quantile payload: p, n, nan flag (1 byte), q[5], pos[5], desired[5]: a NaN where a count belongs.
  ss::quantile<double> q(0.5);
  for (int i = 0; i < 50; ++i) {
    q.push(std::sin(i));
  }
  const std::string q_good = ss::save_state(q);
  const std::size_t qp = payload_offset(q_good);
  b = q_good;
  put_f64(b, qp + 17 + 5 * 8 + 2 * 8, std::numeric_limits<double>::quiet_NaN());
  require_load_error(reseal(b), ss::state_errc::invalid_field, q, "marker position is not a count");
  b = q_good;
  put_f64(b, qp + 17 + 2 * 8,
          -1e9);  // marker heights out of order (found by fuzz_state: positions then cross)
  require_load_error(reseal(b), ss::state_errc::invalid_field, q, "out of order");
  b = q_good;
  b[qp + 16] = 2;  // the NaN flag is a boolean
  require_load_error(reseal(b), ss::state_errc::invalid_field, q, "boolean");
  b = q_good;
  put_f64(b, qp, 1.5);  // p outside (0, 1)
  require_load_error(reseal(b), ss::state_errc::invalid_field, q, "p is not in (0, 1)");

  // ema payload: alpha, convention (1 byte), n, weighted, old weight, period, seed.
  ss::ema<double> e(0.25);
  e.push(3.0);
  const std::string e_good = ss::save_state(e);
  const std::size_t ep = payload_offset(e_good);
  b = e_good;
  put_f64(b, ep, 0.0);
  require_load_error(reseal(b), ss::state_errc::invalid_field, e, "alpha");
  b = e_good;
  b[ep + 8] = 7;
  require_load_error(reseal(b), ss::state_errc::invalid_field, e, "convention");
  b = e_good;
  put_f64(b, ep + 9 + 16, std::numeric_limits<double>::quiet_NaN());
  require_load_error(reseal(b), ss::state_errc::invalid_field, e, "weight");

  // sma: a window count that disagrees with the samples.
  ss::sma<double, 4> s;
  for (int i = 0; i < 6; ++i) {
    s.push(i);
  }
  const std::string s_good = ss::save_state(s);
  const std::size_t sp = payload_offset(s_good) + 8;
  b = s_good;
  put_u64(b, sp - 8, 5);  // a window longer than the capacity
  require_load_error(reseal(b), ss::state_errc::invalid_field, s, "window length");
  b = s_good;
  put_u64(b, sp, 7);  // count 7 with the write position of count 6
  require_load_error(reseal(b), ss::state_errc::invalid_field, s, "write position disagrees");
  b = s_good;
  put_f64(b, sp + 6 * 8 + 8, 1e9);  // a fresh sum that is not the window's
  require_load_error(reseal(b), ss::state_errc::invalid_field, s, "fresh sum");

  // detector: learned count disagreeing with the baseline; an episode open with no episode counted.
  const auto d = busy_detector();
  const std::string d_good = ss::save_state(d);
  const std::size_t tp = payload_offset(d_good) + 32 + 24;  // the timestamp block (version 2)
  const std::size_t dp = tp + 49 + 41;                      // the z-score detector inside
  // anomaly_detector: calibration (span, learning, alert_p, quiet), seasonal options (period,
  // slot_alpha, use_ratio), the timestamp block (cycle, last t, origin, at, status 1, filled, no
  // spacings, pace), episodes (5 × 8 + 1), then the z-score
  // detector's options: threshold 8, side 1, warmup 8, learning 1, relearn_after 8, cooldown 8,
  // min_stddev 8, resolution_floor 8
  const std::size_t counters = dp + 8 + 1 + 8 + 1 + 8 + 8 + 8 + 8;
  b = d_good;
  put_u64(b, counters + 24, 1);  // learned = 1
  require_load_error(reseal(b), ss::state_errc::invalid_field, d, "learned count");
  b = d_good;
  put_f64(b, dp, -4.5);
  require_load_error(reseal(b), ss::state_errc::invalid_field, d, "threshold");
  b = d_good;
  put_f64(b, tp, -86400.0);  // a negative cycle
  require_load_error(reseal(b), ss::state_errc::invalid_field, d, "cycle or pace learner");
  b = d_good;
  b[tp + 32] = 1;  // "learned", with no spacings and pace 0
  require_load_error(reseal(b), ss::state_errc::invalid_field, d, "cycle or pace learner");
  b = d_good;
  put_f64(b, tp + 41, 300.0);  // a pace while still learning
  require_load_error(reseal(b), ss::state_errc::invalid_field, d, "learned pace is inconsistent");

  // a payload longer than the type's fields
  b = e_good;
  b.insert(b.size() - 4, 1, '\0');
  const std::size_t len = e_good.size() - 16 - (ep - 12) + 1;
  b[8] = static_cast<char>(len & 0xFF);
  require_load_error(reseal(b), ss::state_errc::invalid_field, e, "longer");
}

TEST_CASE("ddsketch: other Bins or value type refused, inconsistent fields refused with a reason") {
  using S = ss::ddsketch<double, 64>;
  S s(0.01);
  for (std::size_t i = 0; i < 300; ++i) {
    s.push(at<double>(i) > 0 ? at<double>(i) : 5.0);  // positives only, several keys
  }
  const std::string good = ss::save_state(s);
  require_load_error(good, ss::state_errc::parameter_mismatch, ss::ddsketch<double, 128>{},
                     "template parameters");
  require_load_error(good, ss::state_errc::type_mismatch, ss::ddsketch<float, 64>{}, "hold a ddsketch state");
  require_load_error(good, ss::state_errc::type_mismatch, ss::quantile<double>(0.5),
                     "the target is a quantile");
  // α is a run-time parameter: it travels with the state. The target's own bins (other keys, both
  // signs) are gone after the load.
  S target(0.1);
  for (std::size_t i = 0; i < stream_length; ++i) {
    target.push(signed_sample(i) * 1e3);
  }
  REQUIRE(ss::load_state(good, target) == ss::state_errc::ok);
  CHECK(target.alpha() == 0.01);
  CHECK(target == s);

  // Payload: α, m, n, rejected, zeros, +Inf, −Inf, min, max, then the positive store: total, lowest
  // key, highest key, collapsed (1 byte), the counts; then the negative store.
  const std::size_t p = payload_offset(good);
  const std::size_t pos = p + 72;
  std::string b = good;
  put_f64(b, p, 1.5);
  require_load_error(reseal(b), ss::state_errc::invalid_field, s, "alpha");
  b = good;
  put_f64(b, p + 8, 1.001 * 0.7 / std::log1p(0.02 / 0.99));
  require_load_error(reseal(b), ss::state_errc::invalid_field, s, "multiplier");
  b = good;
  put_u64(b, p + 16, s.count() + 1);
  require_load_error(reseal(b), ss::state_errc::invalid_field, s, "count disagrees with the bins");
  b = good;
  put_f64(b, p + 56, -1.0);  // positive samples only, negative min
  require_load_error(reseal(b), ss::state_errc::invalid_field, s, "min/max");
  b = good;
  put_f64(b, p + 64, 4.0);  // max below min
  require_load_error(reseal(b), ss::state_errc::invalid_field, s, "min/max");
  b = good;
  std::uint64_t total = 0;
  std::memcpy(&total, good.data() + pos, 8);
  put_u64(b, pos, total + 1);  // the store's total
  require_load_error(reseal(b), ss::state_errc::invalid_field, s, "disagree with its total");
  b = good;
  std::uint64_t lowest = 0;
  std::memcpy(&lowest, good.data() + pos + 8, 8);
  put_u64(b, pos + 16, lowest + 64);  // a range of 65 keys
  require_load_error(reseal(b), ss::state_errc::invalid_field, s, "span more than Bins");
  b = good;
  b[pos + 24] = 2;
  require_load_error(reseal(b), ss::state_errc::invalid_field, s, "boolean");
  b = good;
  std::uint64_t c0 = 0;
  std::uint64_t c1 = 0;
  std::memcpy(&c0, good.data() + pos + 25, 8);
  std::memcpy(&c1, good.data() + pos + 33, 8);
  put_u64(b, pos + 25, 0);  // the lowest key emptied, its count moved up: the total still agrees
  put_u64(b, pos + 33, c0 + c1);
  require_load_error(reseal(b), ss::state_errc::invalid_field, s, "lowest or highest key is empty");
  b = good;
  put_u64(b, good.size() - 4 - 17, 1);  // an empty negative store with a key
  require_load_error(reseal(b), ss::state_errc::invalid_field, s, "empty store");
}

TEST_CASE("time_window: other Buckets, accumulator or clock refused, inconsistent fields refused") {
  using W = ss::time_window<ss::variance<double>, 8>;
  W w(std::chrono::seconds(8));
  for (std::size_t i = 0; i < 60; ++i) {
    w.push(at<double>(i), stamp(i));
  }
  REQUIRE(w.rejected() > 0);
  const std::string good = ss::save_state(w);
  const auto span = std::chrono::seconds(16);
  require_load_error(good, ss::state_errc::parameter_mismatch,
                     ss::time_window<ss::variance<double>, 16>(span), "template parameters");
  require_load_error(good, ss::state_errc::parameter_mismatch, ss::time_window<ss::moments<double>, 8>(span),
                     "template parameters");
  require_load_error(good, ss::state_errc::parameter_mismatch,
                     ss::time_window<ss::variance<double>, 8, std::chrono::system_clock>(span),
                     "template parameters");
  require_load_error(good, ss::state_errc::type_mismatch, ss::time_window<ss::variance<float>, 8>(span),
                     "value type");

  // Payload: span (ticks), the prototype's payload (variance: n, shift, mean, M2), n, rejected, newest
  // bucket, the 8 bucket ids, then the buckets in use.
  const std::size_t p = payload_offset(good);
  const std::size_t n_at = p + 8 + 32;
  const std::size_t ids = n_at + 24;
  std::string b = good;
  put_u64(b, p, 8000000001);  // 8 s + 1 ns: not a multiple of 8 ticks
  require_load_error(reseal(b), ss::state_errc::invalid_field, w, "span");
  b = good;
  put_u64(b, p + 8, 1);  // a prototype with a sample
  require_load_error(reseal(b), ss::state_errc::invalid_field, w, "prototype is not empty");
  b = good;
  std::uint64_t newest = 0;
  std::memcpy(&newest, good.data() + n_at + 16, 8);
  put_u64(b, n_at + 16, newest + 1);  // the newest bucket is not in the ring
  require_load_error(reseal(b), ss::state_errc::invalid_field, w, "newest bucket");
  b = good;
  std::size_t s = 0;
  std::uint64_t id = 0;
  for (; s < 8; ++s) {  // a bucket in use that is not the newest
    std::memcpy(&id, good.data() + ids + 8 * s, 8);
    if (id != newest) {
      break;
    }
  }
  REQUIRE(s < 8);
  put_u64(b, ids + 8 * s, id - 1);  // a bucket in another bucket's slot
  require_load_error(reseal(b), ss::state_errc::invalid_field, w, "slot");
  b = good;
  put_u64(b, n_at, 5);  // fewer samples pushed than the buckets hold
  require_load_error(reseal(b), ss::state_errc::invalid_field, w, "hold more samples");
  b = good;
  put_f64(b, ids + 64 + 3 * 8, -1.0);  // the first bucket's M2: checked by variance's own fields
  require_load_error(reseal(b), ss::state_errc::invalid_field, w, "negative M2");
}

TEST_CASE("a NaN other than the canonical quiet NaN is refused: the writer never writes one") {
  // Found by fuzz_state: a NaN with a payload loaded, then re-saved as the canonical NaN (other bytes).
  ss::variance<double> v;
  v.push(1.0);
  v.push(std::numeric_limits<double>::infinity());
  v.push(-std::numeric_limits<double>::infinity());
  const std::string v_good = ss::save_state(v);
  REQUIRE(ss::save_state(ss::load_state<ss::variance<double>>(v_good)) == v_good);  // NaN mean: loads
  std::string b = v_good;
  put_u64(b, payload_offset(b) + 16, 0x7ff8000000000001ULL);  // the mean: a NaN with a payload
  require_load_error(reseal(b), ss::state_errc::invalid_field, v, "canonical quiet NaN");
  put_u64(b, payload_offset(b) + 16, 0xfff8000000000000ULL);  // negative quiet NaN
  require_load_error(reseal(b), ss::state_errc::invalid_field, v, "canonical quiet NaN");
  // float fields, and arrays copied whole (a window's samples).
  ss::mean<float> m;
  m.push(2.0f);
  b = ss::save_state(m);
  for (std::size_t i = 0; i < 4; ++i) {
    b[payload_offset(b) + 8 + i] = static_cast<char>((0x7fc00002U >> (8 * i)) & 0xFFU);
  }
  require_load_error(reseal(b), ss::state_errc::invalid_field, m, "canonical quiet NaN");
  ss::sma<double, 4> w;
  w.push(1.0);
  w.push(std::numeric_limits<double>::quiet_NaN());
  b = ss::save_state(w);
  REQUIRE(ss::save_state(ss::load_state<ss::sma<double, 4>>(b)) == b);
  put_u64(b, b.size() - 4 - 8, 0x7ff4000000000000ULL);  // the NaN sample, signalling
  require_load_error(reseal(b), ss::state_errc::invalid_field, w, "canonical quiet NaN");
}

TEST_CASE("the buffer form writes the same bytes, reports the size it needs, and loads in place") {
  const auto d = busy_detector();
  const std::string s = ss::save_state(d);
  CHECK(ss::state_size(d) == s.size());
  std::vector<char> buf(s.size());
  auto r = ss::save_state(d, buf.data(), buf.size() - 1);
  CHECK(r.ec == ss::state_errc::buffer_too_small);
  CHECK(r.size == s.size());
  r = ss::save_state(d, buf.data(), buf.size());
  REQUIRE(r.ec == ss::state_errc::ok);
  CHECK(std::string(buf.data(), r.size) == s);
  ss::anomaly_detector<double> fresh;
  REQUIRE(ss::load_state(std::string_view(buf.data(), r.size), fresh) == ss::state_errc::ok);
  CHECK(ss::save_state(fresh) == s);
}

// ---- shards in other processes ------------------------------------------------------------------

#ifdef STREAMSTATS_STATE_SHARD_TOOL
TEST_CASE("shard states saved by other processes merge to the one-pass result") {
  using shard = streamstats_golden::shard_state;
  constexpr int shards = 4;
  std::vector<std::string> files;
  for (int i = 0; i < shards; ++i) {
    const std::string file = "test_state_shard_" + std::to_string(i) + ".bin";
    const std::string cmd = std::string("\"") + STREAMSTATS_STATE_SHARD_TOOL + "\" shard " +
                            std::to_string(i) + " " + std::to_string(shards) + " " + file;
    REQUIRE(std::system(cmd.c_str()) == 0);
    files.push_back(file);
  }
  shard merged;
  shard merged_here;
  for (int i = 0; i < shards; ++i) {
    std::ifstream in(files[static_cast<std::size_t>(i)], std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto part = ss::load_state<shard>(bytes);
    merged += part;
    merged_here += streamstats_golden::shard_of(i, shards);
    std::remove(files[static_cast<std::size_t>(i)].c_str());
  }
  // Bit for bit what merging the in-memory shards gives...
  CHECK(ss::save_state(merged) == ss::save_state(merged_here));
  // ...and the one-pass result: counts and extrema exactly, moments to rounding.
  const shard one = streamstats_golden::shard_of(0, 1);
  CHECK(merged.count() == one.count());
  CHECK(merged.get<3>().min() == one.get<3>().min());
  CHECK(merged.get<3>().max() == one.get<3>().max());
  CHECK(merged.get<0>().value() == Approx(one.get<0>().value()).epsilon(1e-15));
  CHECK(merged.get<1>().sample_variance() == Approx(one.get<1>().sample_variance()).epsilon(1e-13));
  CHECK(merged.get<2>().skewness() == Approx(one.get<2>().skewness()).epsilon(1e-11));
  CHECK(merged.get<2>().kurtosis() == Approx(one.get<2>().kurtosis()).epsilon(1e-11));
}
#endif

// ---- golden files -------------------------------------------------------------------------------

TEST_CASE("golden states of format version 1 still load, as the same state their version-2 copy holds") {
  // docs/state-format.md, "Versions": version 1 lacks anomaly_detector's timestamp block; its states
  // load as a detector that was never given a timestamp (cycle at its default), and re-save as the
  // version-2 bytes of the same state, v1/<case>.v2.bin (frozen beside it: the current <case>.bin is
  // regenerated when an algorithm changes the values a case produces, policy 4). The timed cases
  // exist in version 2 only.
  std::size_t seen = 0;
  streamstats_golden::for_each_case([&seen](const char* name, auto build) {
    INFO("golden case " << name);
    const std::string dir = std::string(STREAMSTATS_TEST_DATA_DIR) + "/state/v1/";
    std::ifstream in(dir + name + ".bin", std::ios::binary);
    if (!in.good()) {
      return;
    }
    const std::string v1((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ifstream in2(dir + name + ".v2.bin", std::ios::binary);
    REQUIRE(in2.good());
    const std::string v2((std::istreambuf_iterator<char>(in2)), std::istreambuf_iterator<char>());
    REQUIRE(v1.size() > 6);
    CHECK(v1[4] == 1);
    CHECK(v2[4] == 2);
    using A = std::decay_t<decltype(build())>;
    const A loaded = ss::load_state<A>(v1);
    CHECK(streamstats_test::bits_of(loaded) == streamstats_test::bits_of(ss::load_state<A>(v2)));
    CHECK(ss::save_state(loaded) == v2);
    ++seen;
  });
  CHECK(seen == 21);
}

TEST_CASE("golden states of format version 2 load, and today's writer produces the same bytes") {
  std::size_t seen = 0;
  streamstats_golden::for_each_case([&seen](const char* name, auto build) {
    INFO("golden case " << name);
    const std::string path = std::string(STREAMSTATS_TEST_DATA_DIR) + "/state/" + name + ".bin";
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in.good());
    const std::string golden((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto acc = build();
    using A = std::decay_t<decltype(acc)>;
    const A loaded = ss::load_state<A>(golden);
    CHECK(streamstats_test::bits_of(loaded) == streamstats_test::bits_of(acc));
    CHECK(ss::save_state(loaded) == golden);
    CHECK(ss::save_state(acc) == golden);
    ++seen;
  });
  CHECK(seen >= 23);
}
