// io_threads = 2: each stream owned by one io thread, connections spread over both, requests about
// a stream of the other thread handed over. 12 producers each push to 2 of 8 streams (so most
// connections feed both threads) while subscribers on other connections watch; every sample is
// counted once, each producer's samples reach each stream in the order sent (a pipeline checks
// it), acks and errors come back right, the final statistics equal an offline computation. With
// JWT (TLS builds): rights and expiry hold for the streams of both threads. Checkpoints taken while
// producers push to both threads restore exactly, with 2 threads and with 1.
#include "ws_test_client.hpp"
#if defined(STREAMSTATS_WEBSOCKET_TLS)
#include "tls_fixture.hpp"
#endif

#include <streamstats/websocket/checkpoint.hpp>
#include <streamstats/websocket/server.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using ws_test::json;
namespace ws = streamstats::websocket;

namespace {

constexpr int producers = 12;
constexpr int samples_per_stream = 3000;  // per producer and stream
constexpr int streams = 8;

// Sample i of producer p: p·10⁴ + i, an exact integer whose producer and rank the pipeline reads
// back (every partial sum stays below 2^53).
double sample(int p, int i) { return static_cast<double>(p * 10000 + i); }
std::string stream_a(int p) { return "t" + std::to_string(p % streams); }
std::string stream_b(int p) { return "t" + std::to_string((p + 3) % streams); }

// Exact n, Σx, Σx², and the number of samples that arrived before an earlier one of the same producer.
class order_pipeline final : public ws::pipeline {
 public:
  bool push(double x, ws::alert_info& /*alert*/) noexcept override {
    add(x);
    return false;
  }
  void write_stats(ws::stats_writer& out) const override {
    out.field("n", n_);
    out.field("sum", sum_);
    out.field("sum_sq", sum_sq_);
    out.field("out_of_order", out_of_order_);
  }

 private:
  void add(double x) noexcept {
    n_ += 1.0;
    sum_ += x;
    sum_sq_ += x * x;
    const auto p = static_cast<std::size_t>(x / 10000.0);
    const double i = x - static_cast<double>(p) * 10000.0;
    if (p < last_.size()) {
      if (i <= last_[p]) {
        out_of_order_ += 1.0;
      }
      last_[p] = i;
    }
  }
  std::array<double, producers> last_ = [] {
    std::array<double, producers> a{};
    a.fill(-1.0);
    return a;
  }();
  double n_ = 0.0;
  double sum_ = 0.0;
  double sum_sq_ = 0.0;
  double out_of_order_ = 0.0;
};

struct reference {
  double n = 0, sum = 0, sum_sq = 0;
};

}  // namespace

TEST_CASE("io_threads outside 1 … 64 is refused at construction", "[websocket][threads]") {
  for (const std::size_t n : {std::size_t(0), std::size_t(65)}) {
    ws::server_options o;
    o.io_threads = n;
    CHECK_THROWS_AS(ws::server(o), std::invalid_argument);
  }
  ws::server_options o;
  o.io_threads = 64;
  ws::server srv(o);  // constructs (and is never started)
  CHECK(srv.options().io_threads == 64);
}

TEST_CASE("io_threads = 2: producers on several streams, subscribers elsewhere, exact and in order",
          "[websocket][threads]") {
  ws::server_options o;
  o.io_threads = 2;
  o.snapshot_interval = 20ms;
  o.max_streams = streams + 1;  // the 8 streams and "cxx"
  o.make_pipeline = [](std::string_view) { return std::make_unique<order_pipeline>(); };
  ws::server srv(o);
  srv.start();

  std::map<std::string, reference> ref;
  for (int p = 0; p < producers; ++p) {
    for (const std::string& name : {stream_a(p), stream_b(p)}) {
      const int base = name == stream_a(p) ? 0 : samples_per_stream;
      for (int i = 0; i < samples_per_stream; ++i) {
        const double x = sample(p, base + i);
        ref[name].n += 1;
        ref[name].sum += x;
        ref[name].sum_sq += x * x;
      }
    }
  }
  // The acked pushes at the end (samples 9000, 9001 to the first stream, 9002 to the second).
  for (int p = 0; p < producers; ++p) {
    for (const int i : {9000, 9001, 9002}) {
      const double x = sample(p, i);
      auto& r = ref[i < 9002 ? stream_a(p) : stream_b(p)];
      r.n += 1;
      r.sum += x;
      r.sum_sq += x * x;
    }
  }
  REQUIRE(ref.size() == streams);

  // Subscribers: 3 to "*", and one per stream of a pair.
  ws_test::client_pool sub_pool;
  std::vector<ws_test::client> all;
  for (int k = 0; k < 3; ++k) {
    all.push_back(sub_pool.connect(srv.port()));
    REQUIRE(all.back().is_open());
    all.back().send_text(R"({"type":"subscribe","stream":"*","id":"all"})");
    CHECK(all.back().next_of_type("subscribed")["id"] == "all");
  }

  std::vector<std::unique_ptr<ws_test::client_pool>> pools;
  for (int k = 0; k < 3; ++k) {
    pools.push_back(std::make_unique<ws_test::client_pool>());
  }
  std::vector<ws_test::client> prods;
  for (int p = 0; p < producers; ++p) {
    prods.push_back(pools[static_cast<std::size_t>(p % 3)]->connect(srv.port()));
    REQUIRE(prods.back().is_open());
  }
  // Every producer: its two streams interleaved, as single JSON pushes, JSON batches of 30 and binary
  // frames of 60.
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      auto& c = prods[static_cast<std::size_t>(p)];
      const std::array<std::string, 2> names{stream_a(p), stream_b(p)};
      std::array<int, 2> next{0, samples_per_stream};
      int round = 0;
      while (next[0] < samples_per_stream) {
        for (std::size_t s = 0; s < 2; ++s) {
          int& i = next[s];
          switch (round % 3) {
            case 0:
              for (int k = 0; k < 30; ++k) {
                c.send_json({{"stream", names[s]}, {"value", sample(p, i++)}});
              }
              break;
            case 1: {
              std::vector<double> v;
              for (int k = 0; k < 30; ++k) {
                v.push_back(sample(p, i++));
              }
              c.send_json({{"stream", names[s]}, {"values", v}});
              break;
            }
            default: {
              std::vector<double> v;
              for (int k = 0; k < 30; ++k) {
                v.push_back(sample(p, i++));
              }
              c.send_binary(ws_test::binary_frame(names[s], v));
              break;
            }
          }
        }
        ++round;
      }
    });
  }
  // Meanwhile from C++, on the other side of the posts.
  std::thread cxx([&] {
    for (int i = 0; i < 500; ++i) {
      srv.push("cxx", static_cast<double>(i));
    }
  });
  for (auto& t : threads) {
    t.join();
  }
  cxx.join();

  // Acks: a push with an id to each stream of every producer, then errors with ids: a non-finite sample, an
  // unknown stream, the stream limit.
  for (int p = 0; p < producers; ++p) {
    auto& c = prods[static_cast<std::size_t>(p)];
    c.send_json({{"stream", stream_a(p)}, {"values", {sample(p, 9000), sample(p, 9001)}}, {"id", p}});
    c.send_json({{"stream", stream_b(p)}, {"value", sample(p, 9002)}, {"id", 100 + p}});
    std::map<int, json> acks;
    while (acks.size() < 2) {
      json j = c.next_of_type("ack", 30000ms);
      acks[j["id"].get<int>()] = j;
    }
    CHECK(acks.at(p)["stream"] == stream_a(p));
    CHECK(acks.at(p)["accepted"] == 2);
    CHECK(acks.at(100 + p)["stream"] == stream_b(p));
    CHECK(acks.at(100 + p)["accepted"] == 1);
  }
  auto& e = prods[0];
  e.send_text(R"({"stream":"t5","values":[1,1e999],"id":"nf"})");
  json err = e.next_of_type("error");
  CHECK(err["code"] == "non_finite");
  CHECK(err["id"] == "nf");
  for (int s = 0; s < streams; ++s) {  // on whichever thread owns it
    e.send_json({{"type", "snapshot"}, {"stream", "nope" + std::to_string(s)}, {"id", s}});
    err = e.next_of_type("error");
    CHECK(err["code"] == "unknown_stream");
    CHECK(err["id"] == s);
  }
  std::set<std::string> refused;
  for (int s = 0; s < 4; ++s) {  // 9 streams exist: every new one is refused, on either thread
    e.send_json({{"stream", "extra" + std::to_string(s)}, {"value", 1.0}, {"id", s}});
    err = e.next_of_type("error");
    CHECK(err["code"] == "too_many_streams");
    refused.insert(err["id"].dump());
  }
  CHECK(refused.size() == 4);

  // list gathers both threads.
  e.send_text(R"({"type":"list","id":"l"})");
  json list = e.next_of_type("streams", 30000ms);
  CHECK(list["id"] == "l");
  CHECK(list["total"] == streams + 1);
  REQUIRE(list["streams"].size() == streams + 1);
  CHECK(list["streams"][0]["name"] == "cxx");
  for (int s = 0; s < streams; ++s) {
    const json& l = list["streams"][static_cast<std::size_t>(s + 1)];
    CHECK(l["name"] == "t" + std::to_string(s));
    CHECK(l["subscribers"] == 3);
  }

  const auto st = srv.stats();
  CHECK(st.samples == static_cast<std::uint64_t>(producers * (2 * samples_per_stream + 3) + 500));
  CHECK(st.streams == streams + 1);
  CHECK(st.rejected == 1 + streams + 4);

  // Every "*" subscriber ends with the final state of every stream.
  for (auto& c : all) {
    std::map<std::string, json> final_seen;
    while (final_seen.size() < streams + 1) {
      json j = c.next_of_type("snapshot", 20000ms);
      const std::string name = j["stream"].get<std::string>();
      const double want = name == "cxx" ? 500.0 : ref.at(name).n;
      // The final state: every sample in, and for t5 the refused batch counted (it came last).
      if (j["count"].get<double>() == want && j["rejected"] == (name == "t5" ? 1 : 0)) {
        final_seen[name] = j;
      }
    }
    for (const auto& [name, r] : ref) {
      const json& j = final_seen.at(name);
      INFO("stream " << name);
      CHECK(j["stats"]["out_of_order"] == 0.0);
      CHECK(j["rejected"] == (name == "t5" ? 1 : 0));
      CHECK(j["stats"]["n"].get<double>() == r.n);
      CHECK(j["stats"]["sum"].get<double>() == r.sum);
      CHECK(j["stats"]["sum_sq"].get<double>() == r.sum_sq);
    }
    CHECK(final_seen.at("cxx")["stats"]["sum"].get<double>() == 499.0 * 500.0 / 2.0);
    CHECK(final_seen.at("cxx")["stats"]["out_of_order"] == 0.0);
  }
  srv.stop();
  srv.join();
}

#if defined(STREAMSTATS_WEBSOCKET_TLS)
namespace {

const std::string jwt_secret = "a-shared-hs256-secret-of-32-bytes-or-more";

// The io thread that owns `name` with io_threads = 2 (core.hpp: std::hash of the name, modulo
// the number of threads); the test only uses it to make sure both threads are exercised.
std::size_t owner_of(const std::string& name) { return std::hash<std::string_view>{}(name) % 2; }

// Two names with this prefix, one owned by each thread.
std::array<std::string, 2> one_per_thread(const std::string& prefix) {
  std::array<std::string, 2> names;
  std::array<bool, 2> found{false, false};
  for (int k = 0; !(found[0] && found[1]); ++k) {
    const std::string n = prefix + std::to_string(k);
    if (!found[owner_of(n)]) {
      names[owner_of(n)] = n;
      found[owner_of(n)] = true;
    }
  }
  return names;
}

std::string token(const std::string& rights_py, const std::string& exp_py = "now + 300") {
  return streamstats_test::pyjwt_token(
      "{'aud': 'streamstats', 'exp': " + exp_py + ", 'streams': " + rights_py + "}", "'" + jwt_secret + "'",
      "HS256");
}

}  // namespace

TEST_CASE("io_threads = 2: a JWT's rights and expiry hold for the streams of both threads",
          "[websocket][threads][auth]") {
  ws::server_options o;
  o.io_threads = 2;
  o.snapshot_interval = 20ms;
  ws::jwt_options j;
  j.key = jwt_secret;
  j.audience = "streamstats";
  j.leeway = std::chrono::seconds(0);
  o.jwt = j;
  o.anonymous_subscribe = true;
  ws::server srv(o);
  srv.start();

  const auto lab = one_per_thread("lab/");
  const auto priv = one_per_thread("priv/");
  const std::string admin_token = token("{'publish': ['*'], 'subscribe': ['*']}");
  const std::string lab_token = token("{'publish': ['lab/*'], 'subscribe': ['lab/*']}");
  const std::vector<std::pair<std::string, std::string>> admin_auth{
      {"Authorization", "Bearer " + admin_token}};
  const std::vector<std::pair<std::string, std::string>> lab_auth{{"Authorization", "Bearer " + lab_token}};

  ws_test::client_pool pool;
  auto admin = pool.connect(srv.port(), "/ws", admin_auth);
  REQUIRE(admin.is_open());
  for (const auto* names : {&lab, &priv}) {
    for (const std::string& n : *names) {
      admin.send_json({{"stream", n}, {"values", {1.0, 2.0}}, {"id", n}});
      CHECK(admin.next_of_type("ack")["id"] == n);
    }
  }

  // Four restricted producers: connections go round robin, so they live on both threads, and every
  // one of them reaches a stream of the other thread.
  std::vector<ws_test::client> labs;
  for (int k = 0; k < 4; ++k) {
    labs.push_back(pool.connect(srv.port(), "/ws", lab_auth));
    REQUIRE(labs.back().is_open());
  }
  // And an anonymous client (no token: it may subscribe, not push).
  auto anon = pool.connect(srv.port());
  REQUIRE(anon.is_open());
  for (auto& c : labs) {
    for (std::size_t t = 0; t < 2; ++t) {
      c.send_json({{"stream", lab[t]}, {"value", 3.0}, {"id", "ok"}});
      CHECK(c.next_of_type("ack")["stream"] == lab[t]);
      c.send_json({{"stream", priv[t]}, {"values", {100.0, 200.0}}, {"id", "no"}});
      json e = c.next_of_type("error");
      CHECK(e["code"] == "forbidden");
      CHECK(e["id"] == "no");
      c.send_json({{"type", "subscribe"}, {"stream", priv[t]}, {"id", "s"}});
      e = c.next_of_type("error");
      CHECK(e["code"] == "forbidden");
      c.send_json({{"type", "snapshot"}, {"stream", priv[t]}, {"id", "s"}});
      CHECK(c.next_of_type("error")["code"] == "forbidden");
      c.send_json({{"type", "snapshot"}, {"stream", lab[t]}, {"id", "s"}});
      CHECK(c.next_of_type("snapshot")["stream"] == lab[t]);
    }
    c.send_text(R"({"type":"subscribe","stream":"*","id":"all"})");
    CHECK(c.next_of_type("error")["code"] == "forbidden");
    // list, gathered from both threads, names only what it may subscribe to.
    c.send_text(R"({"type":"list","id":"l"})");
    const json l = c.next_of_type("streams");
    CHECK(l["total"] == 2);
    REQUIRE(l["streams"].size() == 2);
    CHECK(l["streams"][0]["name"] == std::min(lab[0], lab[1]));
    CHECK(l["streams"][1]["name"] == std::max(lab[0], lab[1]));
  }
  for (std::size_t t = 0; t < 2; ++t) {
    anon.send_json({{"stream", lab[t]}, {"value", 5.0}, {"id", "anon"}});
    CHECK(anon.next_of_type("error")["code"] == "unauthorized");
  }

  // Nothing refused reached a stream: each priv stream has the admin's two samples, each lab
  // stream those and one per restricted producer.
  admin.send_text(R"({"type":"list","id":"l"})");
  const json all = admin.next_of_type("streams");
  CHECK(all["total"] == 4);
  for (const json& s : all["streams"]) {
    const std::string name = s["name"].get<std::string>();
    CHECK(s["count"] == (name.rfind("lab/", 0) == 0 ? 2 + labs.size() : 2));
    CHECK(s["rejected"] == 0);
  }
  CHECK(srv.stats().streams == 4);

  // A token that expires while connected: pushes to both threads' streams are applied until then;
  // then the connection is closed with 4001 and /metrics counts it.
  const std::string short_token = token("{'publish': ['lab/*'], 'subscribe': ['lab/*']}", "now + 2");
  auto brief = pool.connect(srv.port(), "/ws", {{"Authorization", "Bearer " + short_token}});
  REQUIRE(brief.is_open());
  for (std::size_t t = 0; t < 2; ++t) {
    brief.send_json({{"stream", lab[t]}, {"value", 7.0}, {"id", "b"}});
    CHECK(brief.next_of_type("ack")["stream"] == lab[t]);
  }
  CHECK(brief.wait_closed(6000ms) == 4001);
  const std::string metrics = ws_test::http_get(srv.port(), "/metrics");
  CHECK(metrics.find("streamstats_token_expired_closes_total 1\n") != std::string::npos);
  CHECK(metrics.find("streamstats_streams 4\n") != std::string::npos);
  srv.stop();
  srv.join();
}
#endif

namespace {

json snapshot_of(ws_test::client& c, const std::string& stream) {
  c.send_json({{"type", "snapshot"}, {"stream", stream}, {"id", "snap"}});
  json s = c.next_of_type("snapshot", 20000ms);
  s.erase("id");
  return s;
}

std::uint64_t checkpoints_written(std::uint16_t port) {
  const std::string m = ws_test::http_get(port, "/metrics");
  const std::string key = "\nstreamstats_checkpoints_written_total ";
  const auto at = m.find(key);
  return at == std::string::npos ? 0 : std::stoull(m.substr(at + key.size(), 20));
}

}  // namespace

TEST_CASE("io_threads = 2: checkpoints taken while producers push to both threads restore exactly",
          "[websocket][threads][checkpoint]") {
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() /
      ("ss_threads_cp_" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  constexpr int n_streams = 8;
  constexpr int rounds = 40;
  constexpr int per_frame = 50;
  constexpr int n_producers = 4;
  auto name = [](int s) { return "cp" + std::to_string(s); };
  std::map<std::string, json> before;
  {
    ws::server_options o;
    o.io_threads = 2;
    o.state_dir = dir.string();
    o.checkpoint_interval = 5ms;  // many checkpoints, each visiting both threads, during the pushes
    o.log = [](std::string_view /*level*/, const std::string& /*message*/) {};
    ws::server srv(o);
    srv.start();
    ws_test::client_pool pool;
    std::vector<ws_test::client> prods;
    for (int p = 0; p < n_producers; ++p) {
      prods.push_back(pool.connect(srv.port()));
      REQUIRE(prods.back().is_open());
    }
    std::vector<std::thread> threads;
    for (int p = 0; p < n_producers; ++p) {
      threads.emplace_back([&, p] {
        auto& c = prods[static_cast<std::size_t>(p)];
        for (int r = 0; r < rounds; ++r) {
          for (int s = 0; s < n_streams; ++s) {
            std::vector<double> v(per_frame);
            for (int i = 0; i < per_frame; ++i) {
              v[static_cast<std::size_t>(i)] = std::sin(0.01 * (p * 10000 + r * per_frame + i)) + s;
            }
            c.send_binary(ws_test::binary_frame(name(s), v));
          }
        }
        // The list reply comes after everything this connection handed to either thread.
        c.send_text(R"({"type":"list","id":"end"})");
        (void)c.next_of_type("streams", 30000ms);
      });
    }
    for (auto& t : threads) {
      t.join();
    }
    // Periodic checkpoints were written meanwhile (bounded wait for two more after the pushes).
    const std::uint64_t seen = checkpoints_written(srv.port());
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (checkpoints_written(srv.port()) < seen + 2 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    CHECK(checkpoints_written(srv.port()) >= seen + 2);
    for (int s = 0; s < n_streams; ++s) {
      before[name(s)] = snapshot_of(prods[0], name(s));
      CHECK(before[name(s)]["count"] == n_producers * rounds * per_frame);
    }
    srv.stop();
    srv.join();  // the checkpoint at stop: every stream of both threads
  }
  // The newest file (read with the library) holds every stream of both threads with its count.
  ws::checkpoint_store store(dir.string());
  const auto last = store.load();
  REQUIRE(last.found);
  CHECK(last.problems.empty());
  CHECK(last.data.streams.size() == n_streams);
  for (const auto& e : last.data.streams) {
    CHECK(e.counters.count == n_producers * rounds * per_frame);
  }
  // Restored with 2 threads (each stream into the thread its name hashes to) and with 1: the same
  // snapshots, statistics included.
  for (const std::size_t threads : {std::size_t(2), std::size_t(1)}) {
    INFO("io_threads " << threads);
    ws::server_options o;
    o.io_threads = threads;
    o.state_dir = dir.string();
    o.checkpoint_interval = 0ms;
    o.log = [](std::string_view /*level*/, const std::string& /*message*/) {};
    ws::server srv(o);
    srv.start();
    ws_test::client_pool pool;
    auto c = pool.connect(srv.port());
    REQUIRE(c.is_open());
    CHECK(srv.stats().streams == n_streams);
    for (int s = 0; s < n_streams; ++s) {
      INFO(name(s));
      CHECK(snapshot_of(c, name(s)) == before[name(s)]);
    }
    srv.stop();
    srv.join();
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE(
    "io_threads = 2: numbered pushes to a stream of either thread - retries acknowledged once, gaps refused",
    "[websocket][threads]") {
  ws::server_options o;
  o.io_threads = 2;
  ws::server srv(o);
  srv.start();
  ws_test::client_pool pool;
  auto c = pool.connect(srv.port());
  REQUIRE(c.is_open());
  // One connection (living on one thread) numbers its pushes to a stream of each thread: for one of
  // them the producer id and seq travel through the handoff to the owning thread.
  for (const std::string& name : one_per_thread("numbered")) {
    INFO("stream " << name << " owned by thread " << owner_of(name));
    auto push = [&](const std::string& values, int seq) {
      c.send_json(json{{"stream", name}, {"values", json::parse(values)}, {"producer", "p-1"}, {"seq", seq}});
      return c.next_json();
    };
    CHECK(push("[1, 2]", 1) ==
          json{{"type", "ack"}, {"stream", name}, {"accepted", 2}, {"seq", 1}, {"first", 0}});
    CHECK(push("[3]", 2) ==
          json{{"type", "ack"}, {"stream", name}, {"accepted", 1}, {"seq", 2}, {"first", 2}});
    CHECK(push("[3]", 2) == json{{"type", "ack"},
                                 {"stream", name},
                                 {"accepted", 0},
                                 {"seq", 2},
                                 {"first", 2},
                                 {"duplicate", true}});
    const json gap = push("[100]", 4);
    CHECK(gap["type"] == "error");
    CHECK(gap["code"] == "out_of_order");
    // 1, 2, 3 counted once each: the next batch starts at index 3.
    CHECK(push("[5]", 3) ==
          json{{"type", "ack"}, {"stream", name}, {"accepted", 1}, {"seq", 3}, {"first", 3}});
  }
  srv.stop();
  srv.join();
  CHECK(srv.stats().samples == 8);
}
