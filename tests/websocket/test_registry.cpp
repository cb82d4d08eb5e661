// registry.hpp without a server: stream creation through the factory, the name rules and the
// stream limit, counters and alert indices of pushes, iteration, and restore (what checkpoints and
// a broker use).
#include <streamstats/websocket/registry.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ws = streamstats::websocket;
using ws::error_code;

namespace {

// A pipeline that remembers what it learned and alerts on every sample above 100.
class recording_pipeline final : public ws::pipeline {
 public:
  explicit recording_pipeline(std::vector<double>* seen = nullptr) : seen_(seen) {}
  bool push(double x, ws::alert_info& alert) noexcept override {
    if (seen_ != nullptr) {
      seen_->push_back(x);
    }
    if (x > 100.0) {
      alert.z = x;
      alert.score = 1.0;
      return true;
    }
    return false;
  }
  void write_stats(ws::stats_writer& out) const override { out.field("recording", 1.0); }

 private:
  std::vector<double>* seen_;
};

ws::pipeline_factory recording_factory(std::vector<std::string>* made) {
  return [made](std::string_view name) -> std::unique_ptr<ws::pipeline> {
    made->emplace_back(name);
    return std::make_unique<recording_pipeline>();
  };
}

struct alert_seen {
  std::uint64_t index;
  double value;
};

}  // namespace

TEST_CASE("a stream is created on first use through the factory, then found", "[registry]") {
  ws::stream_registry<> r;
  std::vector<std::string> made;
  const auto f = recording_factory(&made);
  const auto a = r.find_or_create("cpu", f);
  REQUIRE(a.s != nullptr);
  CHECK(a.created);
  CHECK(a.s->name == "cpu");
  CHECK(a.s->counters.count == 0);
  CHECK(std::isnan(a.s->counters.last));
  const auto b = r.find_or_create("cpu", f);
  CHECK(b.s == a.s);
  CHECK_FALSE(b.created);
  CHECK(made == std::vector<std::string>{"cpu"});
  CHECK(r.find("cpu") == a.s);
  CHECK(r.find("mem") == nullptr);
  CHECK(r.size() == 1);
}

TEST_CASE("stream names are 1 to 255 bytes of UTF-8", "[registry]") {
  ws::stream_registry<> r;
  const ws::pipeline_factory f;  // empty: default pipeline
  CHECK(r.find_or_create("", f).error == error_code::invalid_stream_name);
  CHECK(r.find_or_create(std::string(256, 'x'), f).error == error_code::invalid_stream_name);
  CHECK(r.find_or_create("\xff\xfe", f).error == error_code::invalid_stream_name);
  CHECK(r.find_or_create("caf\xc3", f).error == error_code::invalid_stream_name);  // truncated é
  CHECK(r.find_or_create(std::string(255, 'x'), f).s != nullptr);
  CHECK(r.find_or_create("caf\xc3\xa9", f).s != nullptr);
  CHECK(r.size() == 2);
}

TEST_CASE("the stream limit refuses new streams only", "[registry]") {
  ws::stream_registry<> r(2);
  const ws::pipeline_factory f;
  REQUIRE(r.find_or_create("a", f).s != nullptr);
  REQUIRE(r.find_or_create("b", f).s != nullptr);
  const auto c = r.find_or_create("c", f);
  CHECK(c.s == nullptr);
  CHECK(c.error == error_code::too_many_streams);
  CHECK(r.find_or_create("a", f).s != nullptr);  // existing streams stay reachable
  r.set_max_streams(3);
  CHECK(r.find_or_create("c", f).created);
  CHECK(r.size() == 3);
}

TEST_CASE("a factory that throws or returns nothing gives the default pipeline", "[registry]") {
  ws::stream_registry<> r;
  const ws::pipeline_factory throws = [](std::string_view) -> std::unique_ptr<ws::pipeline> {
    throw std::runtime_error("no");
  };
  const ws::pipeline_factory null = [](std::string_view) -> std::unique_ptr<ws::pipeline> { return nullptr; };
  for (const auto* f : {&throws, &null}) {
    const auto s = r.find_or_create(f == &throws ? "t" : "n", *f).s;
    REQUIRE(s != nullptr);
    REQUIRE(s->pipe != nullptr);
    CHECK(dynamic_cast<ws::default_pipeline*>(s->pipe.get()) != nullptr);
  }
}

TEST_CASE("pushes update the counters and report alerts with their index in the stream", "[registry]") {
  ws::stream_registry<> r;
  std::vector<double> seen;
  const ws::pipeline_factory f = [&](std::string_view) {
    return std::make_unique<recording_pipeline>(&seen);
  };
  auto* s = r.find_or_create("x", f).s;
  REQUIRE(s != nullptr);
  std::vector<alert_seen> alerts;
  auto on_alert = [&](std::uint64_t i, double x, const ws::alert_info& a) {
    CHECK(a.z == x);
    alerts.push_back({i, x});
  };
  const std::uint64_t v0 = s->version;
  for (int i = 1; i <= 5; ++i) {
    const double x = i;
    r.push(*s, &x, 1, 1000.0 + i, on_alert);
  }
  CHECK(s->counters.count == 5);
  CHECK(s->counters.last == 5.0);
  CHECK(s->counters.t == 1005.0);
  CHECK(s->version == v0 + 5);
  // A batch: samples 6..9 of the stream; 200 (index 6) and 300 (index 8) start alerts.
  const std::vector<double> batch{1.0, 200.0, 3.0, 300.0};
  r.push(*s, batch.data(), batch.size(), 2000.0, on_alert);
  CHECK(s->counters.count == 9);
  CHECK(s->counters.last == 300.0);
  CHECK(s->counters.t == 2000.0);
  REQUIRE(alerts.size() == 2);
  CHECK(alerts[0].index == 6);
  CHECK(alerts[0].value == 200.0);
  CHECK(alerts[1].index == 8);
  CHECK(alerts[1].value == 300.0);
  CHECK(seen == std::vector<double>{1, 2, 3, 4, 5, 1, 200, 3, 300});
  // A single-sample alert: index = the count before it.
  const double big = 101.0;
  r.push(*s, &big, 1, 2001.0, on_alert);
  REQUIRE(alerts.size() == 3);
  CHECK(alerts[2].index == 9);
}

TEST_CASE("a rejected request counts on its stream and changes its version", "[registry]") {
  ws::stream_registry<> r;
  auto* s = r.find_or_create("x", {}).s;
  const std::uint64_t v = s->version;
  ws::stream_registry<>::count_rejected(*s);
  ws::stream_registry<>::count_rejected(*s);
  CHECK(s->counters.rejected == 2);
  CHECK(s->version == v + 2);
  CHECK(s->counters.count == 0);
}

TEST_CASE("for_each walks the streams in name order and stops on false", "[registry]") {
  ws::stream_registry<> r;
  for (const char* n : {"m", "b", "z", "a"}) {
    r.find_or_create(n, {});
  }
  std::string order;
  r.for_each([&](std::string_view name, ws::stream_registry<>::stream& s) {
    CHECK(s.name == name);
    order += name;
  });
  CHECK(order == "abmz");
  std::string first_two;
  const auto& cr = r;
  cr.for_each([&](std::string_view name, const ws::stream_registry<>::stream&) {
    first_two += name;
    return first_two.size() < 2;
  });
  CHECK(first_two == "ab");
}

TEST_CASE("restore gives a stream a pipeline and counters, keeping its topic", "[registry]") {
  // Topic = the subscribers a fan-out would keep; restore must not lose them.
  ws::stream_registry<std::vector<int>> r(1);
  auto* s = r.find_or_create("kept", {}).s;
  s->topic = {7, 8};
  std::vector<double> seen;
  ws::stream_counters c;
  c.count = 1234;
  c.rejected = 5;
  c.last = 2.5;
  c.t = 1.7e9;
  const std::uint64_t v = s->version;
  auto* same = r.restore("kept", std::make_unique<recording_pipeline>(&seen), c);
  REQUIRE(same == s);
  CHECK(s->topic == std::vector<int>{7, 8});
  CHECK(s->counters.count == 1234);
  CHECK(s->counters.rejected == 5);
  CHECK(s->counters.last == 2.5);
  CHECK(s->counters.t == 1.7e9);
  CHECK(s->version > v);
  const double x = 1.0;
  r.push(*s, &x, 1, 3.0, [](std::uint64_t, double, const ws::alert_info&) {});
  CHECK(seen == std::vector<double>{1.0});  // the restored pipeline is the one in use
  CHECK(s->counters.count == 1235);

  // A new stream, past max_streams (1): restoring what existed does not fail half-way.
  auto* fresh = r.restore("new", std::make_unique<recording_pipeline>(), c);
  REQUIRE(fresh != nullptr);
  CHECK(fresh->counters.count == 1234);
  CHECK(r.size() == 2);
  CHECK(r.find_or_create("third", {}).error == error_code::too_many_streams);

  CHECK(r.restore("", std::make_unique<recording_pipeline>(), c) == nullptr);
  CHECK(r.restore("x", nullptr, c) == nullptr);
  CHECK(r.size() == 2);
}

TEST_CASE("pushes pass the samples' time to the pipeline: one sample, and a batch sharing one time",
          "[registry]") {
  // A pipeline that records the time of each call (pipeline::push_at / push_batch_at).
  struct timed_pipeline final : ws::pipeline {
    std::vector<double>* times;
    std::vector<std::size_t>* sizes;
    timed_pipeline(std::vector<double>* t, std::vector<std::size_t>* n) : times(t), sizes(n) {}
    bool push(double /*x*/, ws::alert_info& /*alert*/) noexcept override { return false; }
    bool push_at(double /*x*/, double t, ws::alert_info& /*alert*/) noexcept override {
      times->push_back(t);
      sizes->push_back(1);
      return false;
    }
    void push_batch_at(const double* /*x*/, std::size_t n, double t,
                       ws::alert_sink& /*alerts*/) noexcept override {
      times->push_back(t);
      sizes->push_back(n);
    }
    void write_stats(ws::stats_writer& /*out*/) const override {}
  };
  std::vector<double> times;
  std::vector<std::size_t> sizes;
  ws::stream_registry<> r;
  const ws::pipeline_factory f = [&](std::string_view) {
    return std::make_unique<timed_pipeline>(&times, &sizes);
  };
  auto* s = r.find_or_create("x", f).s;
  REQUIRE(s != nullptr);
  const auto ignore = [](std::uint64_t, double, const ws::alert_info&) {};
  const double one = 1.0;
  const std::vector<double> batch{1.0, 2.0, 3.0};
  r.push(*s, &one, 1, 1700000000.5, ignore);
  r.push(*s, batch.data(), batch.size(), 1700000060.0, ignore);
  CHECK(times == std::vector<double>{1700000000.5, 1700000060.0});
  CHECK(sizes == std::vector<std::size_t>{1, 3});
}
