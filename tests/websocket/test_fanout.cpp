// fanout.hpp without sockets: a Link over vectors stands for the connections. Subscriptions (one
// stream and "*"), snapshots sent once per change and shared between subscribers, coalescing under
// back-pressure, alerts, drop accounting, and removal of a closing connection.
#include <streamstats/websocket/fanout.hpp>

#include <nlohmann/json.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ws = streamstats::websocket;
using json = nlohmann::json;

namespace {

struct fake_connection {
  std::size_t queued = 0;                               // what the "socket" has not written yet
  std::size_t drops = 0;                                // what the link was told was dropped
  std::vector<std::shared_ptr<const std::string>> got;  // every message queued on it, in order
  std::vector<json> parsed() const {
    std::vector<json> out;
    for (const auto& m : got) {
      out.push_back(json::parse(*m));
    }
    return out;
  }
};

struct test_link {
  using connection = fake_connection*;
  using message = std::shared_ptr<const std::string>;
  std::shared_ptr<int> prepared = std::make_shared<int>(0);  // how many messages were framed

  message prepare(std::string_view payload) {
    ++*prepared;
    return std::make_shared<const std::string>(payload);
  }
  static std::size_t queued(const connection& c) { return c->queued; }
  static bool send(connection& c, const message& m) {
    c->got.push_back(m);
    return true;
  }
  static bool send_text(connection& c, std::string_view payload) {
    c->got.push_back(std::make_shared<const std::string>(payload));
    return true;
  }
  static void dropped(connection& c) { ++c->drops; }
};

using fanout = ws::fanout<test_link>;

struct fixture {
  test_link link;
  fanout f{link, 1000};
  fanout::registry streams;
  fake_connection ca, cb;
  fanout::subscriber a, b;
  fixture() {
    a.con = &ca;
    b.con = &cb;
  }
  fanout::stream& stream(const char* name) {
    auto r = streams.find_or_create(name, {});
    if (r.created) {
      f.stream_created(*r.s);
    }
    return *r.s;
  }
  void push(fanout::stream& s, double x) {
    streams.push(s, &x, 1, 1.0e9,
                 [&](std::uint64_t i, double v, const ws::alert_info& al) { f.alert(s, i, v, 1.0e9, al); });
  }
};

}  // namespace

TEST_CASE("subscribing sends the current snapshot at once, once", "[fanout]") {
  fixture t;
  auto& s = t.stream("cpu");
  t.push(s, 2.0);
  t.push(s, 4.0);
  t.f.subscribe(t.a, s);
  t.f.subscribe(t.a, s);  // already subscribed: nothing more
  const auto m = t.ca.parsed();
  REQUIRE(m.size() == 1);
  CHECK(m[0]["type"] == "snapshot");
  CHECK(m[0]["stream"] == "cpu");
  CHECK(m[0]["count"] == 2);
  CHECK(m[0]["last"] == 4.0);
  CHECK(m[0]["stats"]["mean"] == 3.0);  // (2 + 4) / 2
  CHECK(s.topic.subscribers.size() == 1);
  CHECK(t.f.stats().snapshots.get() == 1);
}

TEST_CASE("a flush sends a stream's snapshot only when it changed, framed once for all", "[fanout]") {
  fixture t;
  auto& s = t.stream("cpu");
  t.f.subscribe(t.a, s);
  t.f.subscribe(t.b, s);
  REQUIRE(t.ca.got.size() == 1);
  REQUIRE(t.cb.got.size() == 1);
  CHECK(t.ca.got[0] == t.cb.got[0]);  // the same message object, not a copy
  const int framed = *t.link.prepared;
  t.f.flush(t.a, false);
  t.f.flush(t.b, false);
  CHECK(t.ca.got.size() == 1);  // unchanged: nothing sent
  t.push(s, 1.0);
  t.f.flush(t.a, false);
  t.f.flush(t.b, false);
  REQUIRE(t.ca.got.size() == 2);
  REQUIRE(t.cb.got.size() == 2);
  CHECK(t.ca.got[1] == t.cb.got[1]);
  CHECK(*t.link.prepared == framed + 1);
  CHECK(json::parse(*t.ca.got[1])["count"] == 1);
  t.f.flush(t.a, true);  // the final flush sends every subscription again
  CHECK(t.ca.got.size() == 3);
}

TEST_CASE("a connection over the bound gets snapshots coalesced, alerts and replies dropped", "[fanout]") {
  fixture t;
  auto& s = t.stream("cpu");
  t.ca.queued = 5000;  // over the bound of 1000: a reader that stalled
  t.f.subscribe(t.a, s);
  CHECK(t.ca.got.empty());
  CHECK(t.a.dropped == 1);
  for (int i = 0; i < 10; ++i) {
    t.push(s, 1.0);
    t.f.flush(t.a, false);
  }
  t.push(s, 1000.0);  // a spike: its alert, if the detector is warm enough to raise one, is dropped too
  CHECK_FALSE(t.f.send_text(t.a, "{\"type\":\"ack\"}"));
  CHECK(t.ca.got.empty());
  const std::uint64_t dropped = t.a.dropped;
  CHECK(dropped >= 12);
  CHECK(t.f.stats().dropped.get() == dropped);
  CHECK(t.ca.drops == dropped);
  // It reads: the next flush sends one snapshot, the latest.
  t.ca.queued = 0;
  t.f.flush(t.a, false);
  const auto m = t.ca.parsed();
  REQUIRE(m.size() == 1);
  CHECK(m[0]["count"] == 11);
  CHECK(m[0]["last"] == 1000.0);
  CHECK(t.f.stats().peak_queued.get() == 5000);
}

TEST_CASE("alerts reach every subscriber of the stream at once, as one shared message", "[fanout]") {
  fixture t;
  auto& s = t.stream("x");
  auto& other = t.stream("y");
  t.f.subscribe(t.a, s);
  t.f.subscribe(t.b, other);
  fake_connection cc;
  fanout::subscriber c;
  c.con = &cc;
  t.f.subscribe(c, s);
  ws::alert_info al;
  al.z = 7.5;
  al.score = 0.999;
  t.f.alert(s, 42, 99.0, 1.5e9, al);
  REQUIRE(t.ca.got.size() == 2);
  REQUIRE(cc.got.size() == 2);
  CHECK(t.cb.got.size() == 1);  // subscribed to another stream only
  CHECK(t.ca.got[1] == cc.got[1]);
  const json a = json::parse(*t.ca.got[1]);
  CHECK(a["type"] == "alert");
  CHECK(a["stream"] == "x");
  CHECK(a["index"] == 42);
  CHECK(a["value"] == 99.0);
  CHECK(a["z"] == 7.5);
  CHECK(a["score"] == 0.999);
  CHECK(a["t"] == 1.5e9);
  CHECK(t.f.stats().alerts.get() == 2);
  cc.queued = 2000;
  t.f.alert(s, 43, 99.0, 1.5e9, al);
  CHECK(cc.got.size() == 2);
  CHECK(c.dropped == 1);
  CHECK(t.f.stats().alerts.get() == 3);
}

TEST_CASE("a \"*\" subscription covers the streams that exist and those created later", "[fanout]") {
  fixture t;
  t.stream("b");
  t.stream("a");
  t.f.subscribe_all(t.a, t.streams);
  auto m = t.ca.parsed();
  REQUIRE(m.size() == 2);
  CHECK(m[0]["stream"] == "a");  // name order
  CHECK(m[1]["stream"] == "b");
  auto& c = t.stream("c");  // created later: joined, its first snapshot with the next flush
  CHECK(c.topic.subscribers.size() == 1);
  CHECK(t.ca.got.size() == 2);
  t.push(c, 3.0);
  t.f.flush(t.a, false);
  m = t.ca.parsed();
  REQUIRE(m.size() == 3);
  CHECK(m[2]["stream"] == "c");
  CHECK(m[2]["count"] == 1);
  t.f.unsubscribe_all(t.a);
  CHECK(t.a.subs.empty());
  CHECK(c.topic.subscribers.empty());
  auto& d = t.stream("d");
  CHECK(d.topic.subscribers.empty());  // no longer "*"
}

TEST_CASE("unsubscribe and remove leave no stream pointing at the connection", "[fanout]") {
  fixture t;
  auto& x = t.stream("x");
  auto& y = t.stream("y");
  t.f.subscribe(t.a, x);
  t.f.subscribe(t.a, y);
  t.f.subscribe(t.b, x);
  t.f.unsubscribe(t.a, x);
  CHECK(x.topic.subscribers == std::vector<fanout::subscriber*>{&t.b});
  CHECK(t.a.subs.size() == 1);
  t.f.subscribe_all(t.a, t.streams);
  t.f.remove(t.a);
  CHECK(x.topic.subscribers == std::vector<fanout::subscriber*>{&t.b});
  CHECK(y.topic.subscribers.empty());
  CHECK(t.stream("z").topic.subscribers.empty());  // removed from "*" too
}

TEST_CASE("the snapshot reply carries the request's id", "[fanout]") {
  fixture t;
  auto& s = t.stream("cpu");
  t.push(s, 5.0);
  REQUIRE(t.f.send_snapshot(t.a, s, "\"q1\""));
  const json m = json::parse(*t.ca.got.at(0));
  CHECK(m["id"] == "q1");
  CHECK(m["count"] == 1);
  CHECK(m["stats"]["min"] == 5.0);
}
