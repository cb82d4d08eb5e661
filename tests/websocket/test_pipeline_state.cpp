// Saved states of the adapter's pipelines (issue 11, docs/state-format.md "Pipeline states"): a
// pipeline restored from its state continues bit for bit as the uninterrupted one (every snapshot's
// "stats" text byte for byte, every alert's offset, z and score), states of another configuration
// or class are refused with a message naming both, and bad bytes never change the target.
#include <streamstats/websocket/pipeline.hpp>
#include <streamstats/websocket/pipeline_spec.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace ws = streamstats::websocket;
using streamstats::state_errc;
using streamstats::state_error;

namespace {

std::string stats_text(const ws::pipeline& p) {
  std::string out;
  ws::json_writer w(out);
  w.begin_object();
  ws::stats_writer sw(w);
  p.write_stats(sw);
  w.end_object();
  return out;
}

// One alert as raw bits, so that equality is bit equality.
struct alert_record {
  std::uint64_t index;
  std::uint64_t z_bits;
  std::uint64_t score_bits;
  bool operator==(const alert_record& o) const {
    return index == o.index && z_bits == o.z_bits && score_bits == o.score_bits;
  }
};

std::uint64_t bits(double x) {
  std::uint64_t b = 0;
  std::memcpy(&b, &x, 8);
  return b;
}

struct recorder final : ws::alert_sink {
  std::vector<alert_record>* out = nullptr;
  std::uint64_t base = 0;
  void on_alert(std::size_t offset, double /*x*/, const ws::alert_info& a) override {
    out->push_back({base + offset, bits(a.z), bits(a.score)});
  }
};

// A messy series: noise, spikes, a level shift held long enough to trigger a re-learn, a flat
// stretch and a variance change, so that cuts land mid-episode, mid-relearn and mid-window.
std::vector<double> messy_series(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<double> xs(n);
  for (std::size_t i = 0; i < n; ++i) {
    double x = 10.0 + noise(rng);
    if (i % 97 == 50) {
      x += 12.0;  // spike
    }
    if (i >= n / 3 && i < n / 2) {
      x += 25.0;  // level shift
    }
    if (i >= n / 2 && i < n / 2 + 80) {
      x = 7.0;  // flat
    }
    if (i > 3 * n / 4) {
      x = 10.0 + 6.0 * noise(rng);
    }
    xs[i] = x;
  }
  return xs;
}

// Feeds xs[from, to) in chunks of random size (1 → push, else push_batch), recording alerts and the
// stats text after each chunk.
void feed(ws::pipeline& p, const std::vector<double>& xs, std::size_t from, std::size_t to,
          std::mt19937_64& rng, std::vector<alert_record>& alerts, std::vector<std::string>& texts) {
  std::uniform_int_distribution<std::size_t> chunk(1, 9);
  std::size_t i = from;
  while (i < to) {
    const std::size_t n = std::min(chunk(rng), to - i);
    if (n == 1) {
      ws::alert_info a;
      if (p.push(xs[i], a)) {
        alerts.push_back({i, bits(a.z), bits(a.score)});
      }
    } else {
      recorder r;
      r.out = &alerts;
      r.base = i;
      p.push_batch(xs.data() + i, n, r);
    }
    i += n;
    texts.push_back(stats_text(p));
  }
}

using make_fn = std::function<std::unique_ptr<ws::pipeline>()>;

// The uninterrupted run against runs cut at `cuts` (saved, loaded into a fresh pipeline, continued):
// the same chunking (same rng seed), so the same texts after every chunk and the same alerts.
void check_continuation(const make_fn& make, const std::vector<double>& xs, std::vector<std::size_t> cuts) {
  std::sort(cuts.begin(), cuts.end());
  std::vector<alert_record> ref_alerts;
  std::vector<std::string> ref_texts;
  {
    auto p = make();
    std::mt19937_64 rng(11);
    std::size_t from = 0;
    for (const std::size_t c : cuts) {  // the same chunk boundaries as the cut run
      feed(*p, xs, from, c, rng, ref_alerts, ref_texts);
      from = c;
    }
    feed(*p, xs, from, xs.size(), rng, ref_alerts, ref_texts);
  }
  std::vector<alert_record> alerts;
  std::vector<std::string> texts;
  auto p = make();
  std::mt19937_64 rng(11);
  std::size_t from = 0;
  for (const std::size_t c : cuts) {
    feed(*p, xs, from, c, rng, alerts, texts);
    from = c;
    std::string saved;
    p->save_state(saved);
    auto fresh = make();
    fresh->load_state(saved);
    CHECK(stats_text(*fresh) == stats_text(*p));
    std::string again;
    fresh->save_state(again);
    CHECK(again == saved);  // an accepted state re-saves to the same bytes
    p = std::move(fresh);
  }
  feed(*p, xs, from, xs.size(), rng, alerts, texts);
  REQUIRE(texts.size() == ref_texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    INFO("snapshot " << i);
    REQUIRE(texts[i] == ref_texts[i]);
  }
  CHECK(alerts == ref_alerts);
  CHECK(!ref_alerts.empty());  // the series did alert: the detector's episodes were exercised
}

// what() of the state_error `f` throws ("no state_error" when it throws none or another exception).
template <class F>
std::string state_error_text(F&& f) {
  try {
    f();
  } catch (const state_error& e) {
    return e.what();
  } catch (...) {
    return "another exception";
  }
  return "no state_error";
}

std::vector<std::size_t> random_cuts(std::size_t n, std::size_t k, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::size_t> at(1, n - 1);
  std::vector<std::size_t> cuts(k);
  for (auto& c : cuts) {
    c = at(rng);
  }
  cuts.push_back(n / 3 + 20);  // inside the level shift: mid-episode, then mid-relearn
  cuts.push_back(n / 3 + 35);
  return cuts;
}

ws::pipeline_spec full_spec() {
  ws::pipeline_spec s;
  s.cumulative = {true, true, true, true, true, true};
  s.sma = 50;
  s.rolling_variance = 30;
  s.rolling_extrema = 40;
  s.ema_halflife = 7.0;
  s.quantiles = {0.5, 0.9, 0.99};
  s.sketch_quantiles = {0.0, 0.1, 0.999, 1.0};
  s.detector.enabled = true;
  s.detector.options.threshold = 3.5;
  s.detector.options.warmup = 20;
  return s;
}

}  // namespace

TEST_CASE("a default_pipeline cut at random points continues bit for bit, alerts included") {
  const auto xs = messy_series(6000, 1);
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    check_continuation([] { return std::make_unique<ws::default_pipeline>(); }, xs,
                       random_cuts(xs.size(), 6, seed));
  }
}

TEST_CASE("a default_pipeline without detector and one with other options continue bit for bit") {
  const auto xs = messy_series(3000, 2);
  ws::default_pipeline_options o;
  o.ema_span = 7.5;
  o.detector.threshold = 3.0;
  o.detector.side = streamstats::zscore_side::upper;
  check_continuation([o] { return std::make_unique<ws::default_pipeline>(o); }, xs,
                     random_cuts(xs.size(), 5, 9));
  ws::default_pipeline_options off;
  off.detect = false;
  // No detector, no alerts: compare the texts only (check_continuation also wants alerts).
  auto p = std::make_unique<ws::default_pipeline>(off);
  std::mt19937_64 rng(3);
  std::vector<alert_record> alerts;
  std::vector<std::string> texts;
  feed(*p, xs, 0, 1000, rng, alerts, texts);
  std::string s;
  p->save_state(s);
  ws::default_pipeline q(off);
  q.load_state(s);
  CHECK(stats_text(q) == stats_text(*p));
  CHECK(alerts.empty());
}

TEST_CASE("a spec_pipeline with every statistic cut at random points continues bit for bit") {
  const auto xs = messy_series(6000, 3);
  const auto spec = full_spec();
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    check_continuation([spec] { return std::make_unique<ws::spec_pipeline>(spec); }, xs,
                       random_cuts(xs.size(), 6, seed + 10));
  }
}

TEST_CASE("spec_pipelines with few statistics save only those and continue bit for bit") {
  const auto xs = messy_series(2000, 4);
  ws::pipeline_spec count_only;
  count_only.cumulative.count = true;
  ws::spec_pipeline p(count_only);
  std::mt19937_64 rng(5);
  std::vector<alert_record> alerts;
  std::vector<std::string> texts;
  feed(p, xs, 0, 777, rng, alerts, texts);
  std::string s;
  p.save_state(s);
  ws::spec_pipeline q(count_only);
  q.load_state(s);
  CHECK(stats_text(q) == R"({"count":777})");
  std::string full;
  ws::spec_pipeline(full_spec()).save_state(full);
  CHECK(s.size() < full.size() / 10);  // no state of unconfigured accumulators

  check_continuation([] { return std::make_unique<ws::spec_pipeline>(ws::default_pipeline_spec()); }, xs,
                     random_cuts(xs.size(), 4, 21));
}

TEST_CASE(
    "a spec_pipeline's detector_period runs the seasonal stage: a missing daily pulse is caught, "
    "it continues bit for bit, and its state is refused by a pipeline of another period") {
  // A cycle of 48 samples: 24 at 10, 24 at 0, plus N(0, 0.25^2) noise; 60 cycles, of which cycles
  // 44 and 52 miss their pulse (the high half stays at 0). Each sample of a missing pulse is a
  // plausible value on its own (0 is the other half's level): only the cycle says it is wrong.
  constexpr std::size_t period = 48;
  auto missing = [](std::size_t i) {
    const std::size_t cycle = i / period;
    return (cycle == 44 || cycle == 52) && i % period < period / 2;
  };
  std::mt19937_64 rng(77);
  std::normal_distribution<double> noise(0.0, 0.25);
  std::vector<double> xs;
  for (std::size_t i = 0; i < 60 * period; ++i) {
    xs.push_back((i % period < period / 2 && !missing(i) ? 10.0 : 0.0) + noise(rng));
  }
  ws::pipeline_spec plain;
  plain.detector.enabled = true;
  ws::pipeline_spec seasonal = plain;
  seasonal.detector.seasonal.period = period;
  REQUIRE(ws::check_pipeline_spec(seasonal).empty());

  check_continuation([seasonal] { return std::make_unique<ws::spec_pipeline>(seasonal); }, xs,
                     random_cuts(xs.size(), 5, 31));

  // Alerts after the first 30 cycles (both stages have learnt): inside each missing pulse (hits) and
  // elsewhere (false alerts).
  struct tally {
    std::size_t hits44 = 0, hits52 = 0, other = 0;
  };
  auto count = [&](const ws::pipeline_spec& spec) {
    ws::spec_pipeline p(spec);
    tally t;
    for (std::size_t i = 0; i < xs.size(); ++i) {
      ws::alert_info ai;
      if (p.push(xs[i], ai) && i >= 30 * period) {
        (missing(i) ? (i / period == 44 ? t.hits44 : t.hits52) : t.other) += 1;
      }
    }
    return t;
  };
  const tally without = count(plain);
  const tally with = count(seasonal);
  INFO("alerts in missing pulses 44/52 and elsewhere: without period "
       << without.hits44 << "/" << without.hits52 << ", " << without.other << "; with period " << with.hits44
       << "/" << with.hits52 << ", " << with.other);
  CHECK(with.hits44 >= 1);
  CHECK(with.hits52 >= 1);
  CHECK(with.other <= 2);
  CHECK(without.hits44 + without.hits52 == 0);  // the plain detector cannot see a missing pulse

  ws::spec_pipeline a(seasonal);
  ws::alert_info ai;
  for (const double x : xs) {
    a.push(x, ai);
  }
  std::string s;
  a.save_state(s);
  ws::pipeline_spec other = seasonal;
  other.detector.seasonal.period = 2 * period;
  ws::spec_pipeline b(other);
  CHECK_THAT(state_error_text([&] { b.load_state(s); }), Catch::Matchers::Contains("period=48"));
  ws::spec_pipeline c(plain);
  CHECK_THROWS_AS(c.load_state(s), state_error);

  ws::pipeline_spec bad = seasonal;
  bad.detector.seasonal.slot_alpha = 0.0;
  CHECK(ws::check_pipeline_spec(bad).rfind("detector_slot_alpha:", 0) == 0);
}

TEST_CASE(
    "a spec_pipeline's sketch_quantiles are within sketch_accuracy of the exact lower quantile, "
    "and the reported list may change across a restart while the accuracy may not") {
  // Lognormal data (latencies): exact lower quantiles from the sorted samples, as numpy.quantile(x, q,
  // method='lower') defines them.
  std::mt19937_64 rng(4242);
  std::lognormal_distribution<double> d(0.0, 1.5);
  std::vector<double> xs(50000);
  for (auto& x : xs) {
    x = d(rng);
  }
  ws::pipeline_spec spec;
  spec.sketch_quantiles = {0.0, 0.5, 0.9, 0.99, 0.999, 1.0};
  spec.sketch_accuracy = 0.01;
  REQUIRE(ws::check_pipeline_spec(spec).empty());
  ws::spec_pipeline p(spec);
  ws::alert_info ai;
  for (std::size_t i = 0; i < 1000; ++i) {
    p.push(xs[i], ai);
  }
  struct ignore final : ws::alert_sink {
    void on_alert(std::size_t, double, const ws::alert_info&) override {}
  } none;
  p.push_batch(xs.data() + 1000, xs.size() - 1000, none);
  std::vector<double> sorted = xs;
  std::sort(sorted.begin(), sorted.end());
  const std::string text = stats_text(p);
  for (const double q : spec.sketch_quantiles) {
    const std::string name = "\"" + ws::quantile_field_name(q) + "\":";
    const auto at = text.find(name);
    REQUIRE(at != std::string::npos);
    const double got = std::strtod(text.c_str() + at + name.size(), nullptr);
    const double exact = sorted[static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1))];
    INFO("q = " << q << ": sketch " << got << ", exact " << exact);
    CHECK(std::abs(got - exact) <= 0.01 * std::abs(exact));
  }

  std::string s;
  p.save_state(s);
  ws::pipeline_spec fewer = spec;
  fewer.sketch_quantiles = {0.5};
  ws::spec_pipeline q1(fewer);
  q1.load_state(s);  // which quantiles are read does not shape the state
  CHECK(stats_text(q1).find("\"p50\":") != std::string::npos);
  ws::pipeline_spec coarser = spec;
  coarser.sketch_accuracy = 0.02;
  ws::spec_pipeline q2(coarser);
  CHECK_THAT(state_error_text([&] { q2.load_state(s); }), Catch::Matchers::Contains("sketch_accuracy=0.01"));

  ws::pipeline_spec clash = spec;
  clash.quantiles = {0.5};
  CHECK(ws::check_pipeline_spec(clash).rfind("sketch_quantiles: p50 is also in quantiles", 0) == 0);
  ws::pipeline_spec out = spec;
  out.sketch_quantiles = {1.5};
  CHECK(ws::check_pipeline_spec(out).rfind("sketch_quantiles:", 0) == 0);
}

TEST_CASE("a state of another pipeline configuration is refused with both configurations named") {
  const auto xs = messy_series(500, 5);
  ws::default_pipeline a;
  std::mt19937_64 rng(1);
  std::vector<alert_record> alerts;
  std::vector<std::string> texts;
  feed(a, xs, 0, xs.size(), rng, alerts, texts);
  std::string s;
  a.save_state(s);

  ws::default_pipeline_options other;
  other.ema_span = 30.0;
  ws::default_pipeline b(other);
  ws::alert_info ai;
  b.push(1.0, ai);
  const std::string before = stats_text(b);
  try {
    b.load_state(s);
    FAIL("loaded a state of another configuration");
  } catch (const state_error& e) {
    CHECK(e.code() == state_errc::parameter_mismatch);
    const std::string what = e.what();
    CHECK(what.find("another configuration") != std::string::npos);
    CHECK(what.find(a.identity()) != std::string::npos);
    CHECK(what.find(b.identity()) != std::string::npos);
  }
  CHECK(stats_text(b) == before);

  ws::default_pipeline_options thr;
  thr.detector.threshold = 4.0;
  ws::default_pipeline c(thr);
  CHECK_THAT(state_error_text([&] { c.load_state(s); }), Catch::Matchers::Contains("threshold=4.5"));
  ws::basic_default_pipeline<10> d;
  CHECK_THAT(state_error_text([&] { d.load_state(s); }), Catch::Matchers::Contains("sma=20"));

  // Another class: a spec_pipeline of the very same statistics still is another kind of state.
  ws::spec_pipeline sp(ws::default_pipeline_spec());
  try {
    sp.load_state(s);
    FAIL("a spec_pipeline loaded a default_pipeline state");
  } catch (const state_error& e) {
    CHECK(e.code() == state_errc::type_mismatch);
    CHECK(std::string(e.what()).find("saved by a default_pipeline") != std::string::npos);
  }

  // Specs that differ in one statistic each.
  const auto base = full_spec();
  ws::spec_pipeline sa(base);
  std::string ss;
  sa.save_state(ss);
  std::vector<std::function<void(ws::pipeline_spec&)>> changes = {
      [](ws::pipeline_spec& x) { x.sma = 49; },
      [](ws::pipeline_spec& x) { x.rolling_variance = 0; },
      [](ws::pipeline_spec& x) { x.cumulative.min = false; },
      [](ws::pipeline_spec& x) { x.quantiles.pop_back(); },
      [](ws::pipeline_spec& x) { x.quantiles[0] = 0.25; },
      [](ws::pipeline_spec& x) {
        x.ema_halflife = 0.0;
        x.ema_span = 7.0;
      },
      [](ws::pipeline_spec& x) { x.detector.options.warmup = 21; },
      [](ws::pipeline_spec& x) { x.detector.enabled = false; },
  };
  for (std::size_t i = 0; i < changes.size(); ++i) {
    INFO("change " << i);
    auto spec = base;
    changes[i](spec);
    ws::spec_pipeline t(spec);
    CHECK_THAT(state_error_text([&] { t.load_state(ss); }),
               Catch::Matchers::Contains("another configuration"));
  }
  // `match` is not part of the identity: which streams get a spec does not change its state.
  auto renamed = base;
  renamed.match = "other.*";
  ws::spec_pipeline t(renamed);
  CHECK_NOTHROW(t.load_state(ss));
}

TEST_CASE("truncated, extended or corrupted pipeline states are refused and change nothing") {
  const auto xs = messy_series(700, 6);
  for (int which = 0; which < 2; ++which) {
    std::unique_ptr<ws::pipeline> p;
    std::unique_ptr<ws::pipeline> target;
    if (which == 0) {
      p = std::make_unique<ws::default_pipeline>();
      target = std::make_unique<ws::default_pipeline>();
    } else {
      p = std::make_unique<ws::spec_pipeline>(full_spec());
      target = std::make_unique<ws::spec_pipeline>(full_spec());
    }
    std::mt19937_64 rng(2);
    std::vector<alert_record> alerts;
    std::vector<std::string> texts;
    feed(*p, xs, 0, xs.size(), rng, alerts, texts);
    feed(*target, xs, 0, 100, rng, alerts, texts);
    const std::string before = stats_text(*target);
    std::string s;
    p->save_state(s);

    for (std::size_t n = 0; n < s.size(); n += 1 + n / 16) {
      INFO("truncated to " << n << " of " << s.size());
      try {
        target->load_state(std::string_view(s.data(), n));
        FAIL("accepted a truncated state");
      } catch (const state_error& e) {
        CHECK((e.code() == state_errc::truncated || e.code() == state_errc::bad_magic));
      }
    }
    CHECK_THAT(state_error_text([&] { target->load_state(s + "x"); }), Catch::Matchers::Contains("trailing"));
    std::mt19937_64 flip_rng(7);
    std::uniform_int_distribution<std::size_t> at(0, s.size() - 1);
    for (int k = 0; k < 300; ++k) {
      std::string bad = s;
      const std::size_t i =
          k < 40 ? static_cast<std::size_t>(k) : at(flip_rng);  // header bytes, then anywhere
      bad[i] = static_cast<char>(bad[i] ^ (1 << (k % 8)));
      INFO("bit " << k % 8 << " of byte " << i);
      CHECK_THROWS_AS(target->load_state(bad), state_error);
    }
    std::string wrong_magic = s;
    wrong_magic[0] = 'X';
    CHECK_THAT(state_error_text([&] { target->load_state(wrong_magic); }), Catch::Matchers::Contains("SSPL"));
    CHECK(stats_text(*target) == before);
    // And it is still a working pipeline that loads the good bytes.
    target->load_state(s);
    CHECK(stats_text(*target) == stats_text(*p));
  }
}

namespace {
struct bare_pipeline final : ws::pipeline {
  bool push(double /*x*/, ws::alert_info& /*alert*/) noexcept override { return false; }
  void write_stats(ws::stats_writer& /*out*/) const override {}
};
}  // namespace

TEST_CASE("a pipeline without state support says so") {
  bare_pipeline p;
  CHECK_FALSE(p.supports_state());
  CHECK(ws::default_pipeline().supports_state());
  CHECK(ws::spec_pipeline(full_spec()).supports_state());
  std::string out;
  CHECK_THAT(state_error_text([&] { p.save_state(out); }),
             Catch::Matchers::Contains("does not support saved states"));
  CHECK_THAT(state_error_text([&] { p.load_state("SSPL"); }),
             Catch::Matchers::Contains("does not support saved states"));
}
