// Scale-out over Redis (docs/scale-out.md): the asio adapter, ingest, lease, owner, failover.
// Every test starts its own redis-server on a unix socket in a temporary directory (redis_server.hpp)
// and removes it afterwards. Every loop is bounded in count and time.
#include "redis_server.hpp"

#include <streamstats/extrema.hpp>
#include <streamstats/multi.hpp>
#include <streamstats/state.hpp>
#include <streamstats/variance.hpp>
#include <streamstats/websocket/redis.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <sys/prctl.h>

namespace redis = streamstats::websocket::redis;
using streamstats_test::redis_server;
using streamstats_test::run_for;
using streamstats_test::run_until;
using namespace std::chrono_literals;

using clk_time = std::chrono::steady_clock::time_point;
using acc_t = streamstats::multi<streamstats::variance<double>, streamstats::extrema<double>>;

namespace {

redis::connection_options opts_for(const redis_server& s) {
  redis::connection_options o;
  o.unix_path = s.socket_path();
  o.backoff_min = 20ms;
  o.backoff_max = 200ms;
  o.command_timeout = 2000ms;
  return o;
}

redis::owner_options owner_opts(std::string stream, std::chrono::milliseconds ttl = 600ms) {
  redis::owner_options o;
  o.stream = std::move(stream);
  o.lease_ttl = ttl;
  o.block = 50ms;
  return o;
}

struct batch {
  std::uint64_t first = 0;
  std::string epoch;
  std::vector<double> data;
};

// Appends `total` batches of `size` doubles, at most `window` in flight, and records what was
// acknowledged. Refusals (unavailable) are counted; the batch is not retried (a retry could double
// a batch whose reply was lost: docs/scale-out.md).
class producer {
 public:
  producer(redis::connection& c, std::string stream, std::uint64_t seed, double loc, double scale)
      : log_(c), stream_(std::move(stream)), rng_(seed), dist_(loc, scale) {}

  void pump(std::size_t total, std::size_t size, std::size_t window) {
    while (inflight_ < window && issued_ < total) {
      auto data = std::make_shared<std::vector<double>>(size);
      for (auto& x : *data)
        x = dist_(rng_);
      ++inflight_;
      ++issued_;
      log_.append(stream_, data->data(), data->size(), [this, data](const redis::append_result& r) {
        --inflight_;
        if (r.ok) {
          CHECK(r.count == data->size());
          acked.push_back({r.first, r.epoch, std::move(*data)});
        } else if (r.error == "unavailable") {
          ++unavailable;
        } else {
          errors.push_back(r.error);
        }
      });
    }
  }
  bool done(std::size_t total) const { return issued_ == total && inflight_ == 0; }

  std::vector<batch> acked;
  std::vector<std::string> errors;
  std::size_t unavailable = 0;

 private:
  redis::stream_log log_;
  std::string stream_;
  std::mt19937_64 rng_;
  std::normal_distribution<double> dist_;
  std::size_t inflight_ = 0;
  std::size_t issued_ = 0;
};

// One pass in log order (by first index), with the same batch calls the owner makes.
acc_t replay(std::vector<batch> batches) {
  std::sort(batches.begin(), batches.end(), [](const batch& a, const batch& b) { return a.first < b.first; });
  acc_t a;
  for (const auto& b : batches)
    a.push(b.data.data(), b.data.data() + b.data.size());
  return a;
}

// Exact reference values, two-pass in long double, independent of the accumulators.
struct reference {
  std::size_t n = 0;
  long double mean = 0, var = 0;
  double min = INFINITY, max = -INFINITY;
};
reference reference_of(const std::vector<batch>& batches) {
  reference r;
  long double sum = 0;
  for (const auto& b : batches)
    for (double x : b.data) {
      ++r.n;
      sum += x;
      r.min = std::min(r.min, x);
      r.max = std::max(r.max, x);
    }
  r.mean = sum / static_cast<long double>(r.n);
  long double ss = 0;
  for (const auto& b : batches)
    for (double x : b.data)
      ss += (x - r.mean) * (x - r.mean);
  r.var = ss / static_cast<long double>(r.n - 1);
  return r;
}

void check_against_reference(const acc_t& a, const std::vector<batch>& batches) {
  const reference r = reference_of(batches);
  CHECK(a.count() == r.n);
  CHECK(a.get<streamstats::extrema<double>>().min() == r.min);
  CHECK(a.get<streamstats::extrema<double>>().max() == r.max);
  CHECK(a.get<streamstats::variance<double>>().mean() == Approx(static_cast<double>(r.mean)).epsilon(1e-13));
  CHECK(a.get<streamstats::variance<double>>().sample_variance() ==
        Approx(static_cast<double>(r.var)).epsilon(1e-12));
}

// The acknowledged index ranges are disjoint and cover [0, total) with no hole.
void check_ranges(std::vector<batch> batches) {
  std::sort(batches.begin(), batches.end(), [](const batch& a, const batch& b) { return a.first < b.first; });
  std::uint64_t next = 0;
  for (const auto& b : batches) {
    CHECK(b.first == next);
    next = b.first + b.data.size();
  }
}

// A blocking one-off command on a fresh io (for checks from outside the code under test's loop).
std::string get_string(const redis_server& s, std::vector<std::string> args) {
  asio::io_context io;
  redis::connection c(io, opts_for(s));
  c.start();
  std::string out;
  bool done = false;
  run_until(
      io, [&] { return c.ready(); }, 5000ms);
  std::vector<std::string_view> v(args.begin(), args.end());
  c.command(v, [&](const redisReply* r) {
    done = true;
    if (r != nullptr && r->type == REDIS_REPLY_INTEGER)
      out = std::to_string(r->integer);
    else
      out = std::string(redis::reply_str(r));
  });
  run_until(
      io, [&] { return done; }, 5000ms);
  return out;
}

// The whole log, in order (XRANGE, in pages), as batches.
std::vector<batch> read_log(const redis_server& s, const std::string& stream) {
  asio::io_context io;
  redis::connection c(io, opts_for(s));
  c.start();
  REQUIRE(run_until(
      io, [&] { return c.ready(); }, 5000ms));
  const auto keys = redis::stream_keys::of(stream);
  std::vector<batch> out;
  std::string start = "-";
  for (int page = 0; page < 10000; ++page) {
    bool done = false;
    std::size_t got = 0;
    std::string last;
    c.command({"XRANGE", keys.log, start, "+", "COUNT", "500"}, [&](const redisReply* r) {
      done = true;
      REQUIRE(r != nullptr);
      REQUIRE(r->type == REDIS_REPLY_ARRAY);
      got = r->elements;
      for (std::size_t e = 0; e < r->elements; ++e) {
        const redisReply* en = r->element[e];
        last = std::string(redis::reply_str(en->element[0]));
        batch b;
        const redisReply* f = en->element[1];
        for (std::size_t k = 0; k + 1 < f->elements; k += 2) {
          auto name = redis::reply_str(f->element[k]);
          auto val = redis::reply_str(f->element[k + 1]);
          if (name == "i")
            b.first = std::stoull(std::string(val));
          if (name == "d") {
            b.data.resize(val.size() / 8);
            std::memcpy(b.data.data(), val.data(), val.size());
          }
        }
        out.push_back(std::move(b));
      }
    });
    REQUIRE(run_until(
        io, [&] { return done; }, 5000ms));
    if (got == 0)
      break;
    start = "(" + last;
  }
  return out;
}

}  // namespace

TEST_CASE("the asio adapter runs binary-safe commands in order and says unavailable while Redis is away") {
  redis_server server;
  asio::io_context io;
  redis::connection c(io, opts_for(server));

  // Not started: refused at once, and the handler runs later (posted), not inside command().
  bool called = false, was_null = false;
  c.command({"PING"}, [&](const redisReply* r) {
    called = true;
    was_null = r == nullptr;
  });
  CHECK_FALSE(called);
  REQUIRE(run_until(
      io, [&] { return called; }, 1000ms));
  CHECK(was_null);

  c.start();
  REQUIRE(run_until(
      io, [&] { return c.ready(); }, 5000ms));
  CHECK_FALSE(c.server_replid().empty());

  // A value with NUL bytes and 100 pipelined INCRs whose replies come back in order.
  const std::string bin("a\0b\xff\0", 5);
  std::string got;
  std::vector<long long> incr;
  c.command({"SET", "k", bin}, nullptr);
  c.command({"GET", "k"}, [&](const redisReply* r) { got = std::string(redis::reply_str(r)); });
  for (int i = 0; i < 100; ++i)
    c.command({"INCR", "n"}, [&](const redisReply* r) { incr.push_back(r != nullptr ? r->integer : -1); });
  REQUIRE(run_until(
      io, [&] { return incr.size() == 100; }, 5000ms));
  CHECK(got == bin);
  for (int i = 0; i < 100; ++i)
    CHECK(incr[static_cast<std::size_t>(i)] == i + 1);

  // A command Redis refuses is an error reply, not nullptr.
  bool err = false;
  c.command({"NO_SUCH_COMMAND"}, [&](const redisReply* r) { err = redis::reply_is_error(r); });
  REQUIRE(run_until(
      io, [&] { return err; }, 5000ms));

  // Redis goes: the connection says so, commands are refused, and it comes back by itself.
  std::vector<bool> states;
  c.on_state([&](bool up) { states.push_back(up); });
  server.stop(SIGKILL);
  REQUIRE(run_until(
      io, [&] { return !c.ready(); }, 5000ms));
  bool refused = false;
  c.command({"PING"}, [&](const redisReply* r) { refused = r == nullptr; });
  REQUIRE(run_until(
      io, [&] { return refused; }, 1000ms));
  run_for(io, 200ms);  // several reconnect attempts fail (backoff 20..200 ms)
  CHECK_FALSE(c.ready());
  server.start();
  REQUIRE(run_until(
      io, [&] { return c.ready(); }, 5000ms));
  std::string pong;
  c.command({"PING"}, [&](const redisReply* r) { pong = std::string(redis::reply_str(r)); });
  REQUIRE(run_until(
      io, [&] { return !pong.empty(); }, 5000ms));
  CHECK(pong == "PONG");
  REQUIRE(states.size() >= 2);
  CHECK(states.front() == false);
  CHECK(states.back() == true);
}

TEST_CASE(
    "a command that gets no reply in time drops the connection and every pending handler hears nullptr") {
  redis_server server;
  asio::io_context io;
  auto o = opts_for(server);
  o.command_timeout = 300ms;
  redis::connection c(io, o);
  c.start();
  REQUIRE(run_until(
      io, [&] { return c.ready(); }, 5000ms));
  // CLIENT PAUSE (sent on another connection) holds every client's commands, and so the replies,
  // for 1 s: longer than the timeout.
  redis::connection admin(io, opts_for(server));
  admin.start();
  REQUIRE(run_until(
      io, [&] { return admin.ready(); }, 5000ms));
  bool paused = false;
  admin.command({"CLIENT", "PAUSE", "1000", "ALL"}, [&](const redisReply* r) { paused = r != nullptr; });
  REQUIRE(run_until(
      io, [&] { return paused; }, 2000ms));
  int nulls = 0;
  c.command({"PING"}, [&](const redisReply* r) { nulls += r == nullptr; });
  c.command({"PING"}, [&](const redisReply* r) { nulls += r == nullptr; });
  REQUIRE(run_until(
      io, [&] { return nulls == 2; }, 3000ms));
  CHECK(c.timeouts() == 1);
  REQUIRE(run_until(
      io, [&] { return c.ready(); }, 5000ms));  // back after the sleep
}

TEST_CASE(
    "one lease holder at a time — a lapsed lease passes on, and the old token's writes are fenced off") {
  redis_server server;
  asio::io_context io;
  redis::connection ca(io, opts_for(server)), cb(io, opts_for(server));
  ca.start();
  cb.start();
  REQUIRE(run_until(
      io, [&] { return ca.ready() && cb.ready(); }, 5000ms));
  redis::lease a(ca, "L", "token-a", 600ms), b(cb, "L", "token-b", 600ms);
  int a_acq = 0, b_acq = 0;
  a.on_acquired = [&] { ++a_acq; };
  b.on_acquired = [&] { ++b_acq; };
  a.start();
  REQUIRE(run_until(
      io, [&] { return a.held(); }, 2000ms));
  b.start();
  run_for(io, 2000ms);  // > 3 TTLs: a renews, b keeps failing
  CHECK(a.held());
  CHECK_FALSE(b.held());
  CHECK(a_acq == 1);
  CHECK(b_acq == 0);

  a.stop(false);  // a crash: no release, the key lapses by its TTL
  const auto t0 = std::chrono::steady_clock::now();
  long long pttl = -10;  // what was left of the TTL at t0 is at least this (asked after t0)
  ca.command({"PTTL", "L"}, [&](const redisReply* r) { pttl = r != nullptr ? r->integer : -20; });
  REQUIRE(run_until(
      io, [&] { return b.held(); }, 3000ms));
  const auto lapse = std::chrono::steady_clock::now() - t0;
  REQUIRE(pttl > 0);
  CHECK(lapse >= std::chrono::milliseconds(pttl));  // b got it only once the key had expired

  // The store script refuses token-a now.
  bool refused = false;
  ca.command(
      {"EVAL", redis::scripts::store, "4", "L", "S", "G", "M", "token-a", "x", "0-1", "1", "e", "0", ""},
      [&](const redisReply* r) {
        refused = redis::reply_is_error(r) && redis::reply_str(r).substr(0, 8) == "NOTOWNER";
      });
  REQUIRE(run_until(
      io, [&] { return refused; }, 2000ms));
  CHECK(get_string(server, {"EXISTS", "S"}) == "0");

  b.stop(true);  // released: the key is gone at once
  run_for(io, 50ms);
  CHECK(get_string(server, {"EXISTS", "L"}) == "0");
}

TEST_CASE(
    "two producers on two connections into one stream — the owner's count, mean, variance, min, max are "
    "exact") {
  redis_server server;
  asio::io_context io;
  redis::connection c1(io, opts_for(server)), c2(io, opts_for(server)), co(io, opts_for(server));
  c1.start();
  c2.start();
  co.start();
  REQUIRE(run_until(
      io, [&] { return c1.ready() && c2.ready() && co.ready(); }, 5000ms));

  producer p1(c1, "s", 1, 10.0, 3.0), p2(c2, "s", 2, -4.0, 0.5);
  redis::owner<acc_t> o(co, owner_opts("s"));
  std::vector<std::string> events;
  o.on_event = [&](std::string_view e) { events.emplace_back(e); };
  o.start();

  constexpr std::size_t batches = 200, size = 1000;
  REQUIRE(run_until(
      io,
      [&] {
        p1.pump(batches, size, 16);
        p2.pump(batches, size, 16);
        return p1.done(batches) && p2.done(batches);
      },
      30000ms));
  CHECK(p1.unavailable + p2.unavailable == 0);
  CHECK(p1.errors.empty());
  CHECK(p2.errors.empty());
  std::vector<batch> all = p1.acked;
  all.insert(all.end(), p2.acked.begin(), p2.acked.end());
  REQUIRE(all.size() == 2 * batches);
  check_ranges(all);
  REQUIRE(run_until(
      io, [&] { return o.next_index() == 2 * batches * size && o.stores() > 0; }, 30000ms));
  run_for(io, 100ms);  // the last store's reply

  check_against_reference(o.state(), all);
  CHECK(streamstats::save_state(o.state()) == streamstats::save_state(replay(all)));
  CHECK(events.empty());
  // The stored copy is the same, and the log is trimmed behind it (one entry, the last applied, stays).
  const auto keys = o.keys();
  CHECK(get_string(server, {"HGET", keys.state, "next"}) == std::to_string(2 * batches * size));
  CHECK(get_string(server, {"HGET", keys.state, "state"}) == streamstats::save_state(o.state()));
  CHECK(get_string(server, {"XLEN", keys.log}) == "1");
}

TEST_CASE(
    "the owner process is SIGKILLed mid-ingest — the next owner's state is bit-identical to one pass over "
    "the "
    "log") {
  redis_server server;
  const std::string stream = "failover";

  // The first owner runs in a child process (forked before this process has an io_context).
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    asio::io_context cio;
    redis::connection cc(cio, opts_for(server));
    cc.start();
    redis::owner_options oo = owner_opts(stream);
    oo.token = "child";
    oo.read_count = 4;  // small steps, so the kill lands between stores
    redis::owner<acc_t> co(cc, oo);
    co.start();
    run_for(cio, 30000ms);
    _exit(0);
  }

  asio::io_context io;
  redis::connection c1(io, opts_for(server)), c2(io, opts_for(server)), cq(io, opts_for(server));
  c1.start();
  c2.start();
  cq.start();
  REQUIRE(run_until(
      io, [&] { return c1.ready() && c2.ready() && cq.ready(); }, 5000ms));
  producer p1(c1, stream, 11, 1e6, 1.0), p2(c2, stream, 12, 0.0, 100.0);
  const auto keys = redis::stream_keys::of(stream);
  constexpr std::size_t batches = 300, size = 500;

  // Ingest until the child has stored a state covering some of it, then kill it mid-ingest.
  std::uint64_t stored_next = 0;
  bool asked = false;
  const bool child_stored = run_until(
      io,
      [&] {
        p1.pump(batches, size, 4);
        p2.pump(batches, size, 4);
        if (!asked) {
          asked = true;
          cq.command({"HGET", keys.state, "next"}, [&](const redisReply* r) {
            asked = false;
            if (r != nullptr && r->type == REDIS_REPLY_STRING)
              stored_next = std::stoull(std::string(redis::reply_str(r)));
          });
        }
        return stored_next >= 20 * size;
      },
      20000ms);
  ::kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  REQUIRE(child_stored);
  CHECK(get_string(server, {"GET", keys.lease}) == "child");  // it died holding the lease

  // A second owner starts at once; it must wait for the lease to lapse, then load and replay.
  redis::connection co(io, opts_for(server));
  co.start();
  redis::owner<acc_t> o(co, owner_opts(stream));
  std::vector<std::string> events;
  o.on_event = [&](std::string_view e) { events.emplace_back(e); };
  std::uint64_t loaded_next = 0;
  o.on_acquired = [&] { loaded_next = o.next_index(); };
  const auto killed_at = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration failover{};
  bool resumed = false;
  o.on_applied = [&](const acc_t&, std::uint64_t) {
    if (!resumed)
      failover = std::chrono::steady_clock::now() - killed_at;
    resumed = true;
  };
  o.start();

  REQUIRE(run_until(
      io,
      [&] {
        p1.pump(batches, size, 4);
        p2.pump(batches, size, 4);
        return p1.done(batches) && p2.done(batches);
      },
      60000ms));
  std::vector<batch> all = p1.acked;
  all.insert(all.end(), p2.acked.begin(), p2.acked.end());
  REQUIRE(all.size() == 2 * batches);
  check_ranges(all);
  REQUIRE(run_until(
      io, [&] { return o.next_index() == 2 * batches * size && o.stores() > 0; }, 30000ms));
  CHECK(loaded_next >= 20 * size);  // it started from the child's stored state, not from zero
  CHECK(loaded_next < 2 * batches * size);
  check_against_reference(o.state(), all);
  CHECK(streamstats::save_state(o.state()) == streamstats::save_state(replay(all)));
  CHECK(events.empty());
  std::cout << "failover: SIGKILL of the owner -> first state stored by its successor: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(failover).count()
            << " ms (lease TTL 600 ms); the successor loaded a state at index " << loaded_next << " of "
            << 2 * batches * size << "\n";
}

TEST_CASE(
    "redis-server SIGKILLed and restarted during ingest: no crash, unavailable while down, nothing "
    "acknowledged lost") {
  redis_server server(/*persist=*/true);
  asio::io_context io;
  redis::connection cp(io, opts_for(server)), co(io, opts_for(server));
  cp.start();
  co.start();
  REQUIRE(run_until(
      io, [&] { return cp.ready() && co.ready(); }, 5000ms));
  const std::string stream = "restart";
  producer p(cp, stream, 21, 5.0, 2.0);
  auto oo = owner_opts(stream);
  oo.trim = false;  // keep the whole log, to check it against the acknowledgements
  redis::owner<acc_t> o(co, oo);
  std::vector<std::string> events;
  o.on_event = [&](std::string_view e) { events.emplace_back(e); };
  o.start();

  constexpr std::size_t batches = 600, size = 200;
  bool killed = false, restarted = false;
  std::size_t unavailable_while_down = 0;
  std::chrono::steady_clock::time_point killed_at{};
  REQUIRE(run_until(
      io,
      [&] {
        // While Redis is down, only a few appends (each refused at once), so that most of the
        // batches are left for after the restart.
        if (!killed || restarted || p.unavailable < 20)
          p.pump(batches, size, 8);
        if (!killed && p.acked.size() >= 150) {
          server.stop(SIGKILL);
          killed = true;
          killed_at = std::chrono::steady_clock::now();
        }
        if (killed && !restarted) {
          unavailable_while_down = p.unavailable;
          if (std::chrono::steady_clock::now() - killed_at > 500ms) {
            server.start();
            restarted = true;
          }
        }
        return p.done(batches);
      },
      60000ms));
  CHECK(killed);
  CHECK(restarted);
  CHECK(unavailable_while_down > 0);  // producers were told, not left waiting
  CHECK(p.errors.empty());
  CHECK(p.acked.size() + p.unavailable == batches);
  CHECK(p.acked.size() > 150);  // ingest resumed after the restart

  // Wait for the owner to apply everything in the log (which may hold batches whose reply was lost).
  std::string log_next;
  REQUIRE(run_until(
      io,
      [&] {
        log_next = get_string(server, {"HGET", redis::stream_keys::of(stream).meta, "next"});
        return !log_next.empty() && o.next_index() == std::stoull(log_next) && o.stores() > 0;
      },
      30000ms));

  const std::vector<batch> log = read_log(server, stream);
  // Every acknowledged batch is in the log, at its index, with its bytes.
  std::map<std::uint64_t, const batch*> by_first;
  for (const auto& b : log)
    by_first[b.first] = &b;
  std::size_t found = 0;
  for (const auto& a : p.acked) {
    auto it = by_first.find(a.first);
    if (it != by_first.end() && it->second->data == a.data)
      ++found;
  }
  CHECK(found == p.acked.size());
  check_ranges(log);
  CHECK(streamstats::save_state(o.state()) == streamstats::save_state(replay(log)));
  std::cout << "restart: " << p.unavailable << " appends refused as unavailable while Redis was down, "
            << log.size() - p.acked.size() << " in the log without an acknowledgement, " << events.size()
            << " owner events";
  for (const auto& e : events)
    std::cout << "\n  " << e;
  std::cout << "\n";
}

// An accumulator that takes the log entry's time (owner.hpp): records each batch's first value
// and time.
struct timed_acc {
  std::vector<std::pair<double, double>> seen;
  void push(const double* first, const double*, double t) { seen.emplace_back(*first, t); }
};
struct timed_codec {
  static std::string save(const timed_acc&) { return "x"; }
  static std::string load(std::string_view, timed_acc&) { return {}; }
};

TEST_CASE("a batch's time goes into the log with it and reaches an owner whose push takes one") {
  redis_server server;
  asio::io_context io;
  redis::connection cp(io, opts_for(server)), co(io, opts_for(server));
  cp.start();
  co.start();
  REQUIRE(run_until(
      io, [&] { return cp.ready() && co.ready(); }, 5000ms));
  redis::stream_log log(cp);
  // A fractional time (round-trips through "%.17g" exactly), none, ±Inf (not stored), a later one.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> times = {1700000000.123456789, nan, std::numeric_limits<double>::infinity(),
                                     1700000600.0};
  std::size_t acked = 0;
  for (std::size_t i = 0; i < times.size(); ++i) {
    const double x = static_cast<double>(i);
    log.append(
        "timed", &x, 1, [&](const redis::append_result& r) { acked += r.ok; }, {}, 0, times[i]);
  }
  REQUIRE(run_until(
      io, [&] { return acked == times.size(); }, 5000ms));
  redis::owner<timed_acc, timed_codec> o(co, owner_opts("timed"));
  o.start();
  REQUIRE(run_until(
      io, [&] { return o.state().seen.size() == times.size(); }, 10000ms));
  const auto& seen = o.state().seen;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    INFO("batch " << i);
    CHECK(seen[i].first == static_cast<double>(i));
  }
  CHECK(std::memcmp(&seen[0].second, &times[0], sizeof(double)) == 0);  // bit for bit
  CHECK(std::isnan(seen[1].second));
  CHECK(std::isnan(seen[2].second));
  CHECK(seen[3].second == 1700000600.0);
  o.stop();
  run_for(io, 50ms);
}

TEST_CASE("Redis restarted without persistence: the stream's epoch changes, so the loss is visible") {
  redis_server server;
  asio::io_context io;
  redis::connection c(io, opts_for(server));
  c.start();
  REQUIRE(run_until(
      io, [&] { return c.ready(); }, 5000ms));
  redis::stream_log log(c);
  const double xs[3] = {1, 2, 3};
  std::vector<redis::append_result> rs;
  auto push = [&] { log.append("e", xs, 3, [&](const redis::append_result& r) { rs.push_back(r); }); };
  push();
  push();
  REQUIRE(run_until(
      io, [&] { return rs.size() == 2; }, 5000ms));
  REQUIRE(rs[0].ok);
  REQUIRE(rs[1].ok);
  CHECK(rs[0].epoch == rs[1].epoch);
  CHECK(rs[1].first == 3);

  server.stop(SIGKILL);
  server.start();
  REQUIRE(run_until(
      io, [&] { return c.ready() && c.connects() == 2; }, 5000ms));  // the new server
  push();
  REQUIRE(run_until(
      io, [&] { return rs.size() == 3; }, 5000ms));
  INFO(rs[2].error);
  REQUIRE(rs[2].ok);
  CHECK(rs[2].first == 0);            // the log is gone...
  CHECK(rs[2].epoch != rs[0].epoch);  // ...and the epoch says so

  // A refused payload (not a multiple of 8 bytes) is Redis' error, not "unavailable".
  bool refused = false;
  log.append_bytes("e", std::string_view("1234567", 7), [&](const redis::append_result& r) {
    refused = !r.ok && r.error.find("multiple of 8") != std::string::npos;
  });
  REQUIRE(run_until(
      io, [&] { return refused; }, 5000ms));
}

TEST_CASE("twenty owners share one connection by polling — each stream's state is exact and bit-identical") {
  redis_server server;
  asio::io_context io;
  redis::connection cp(io, opts_for(server)), co(io, opts_for(server));
  cp.start();
  co.start();
  REQUIRE(run_until(
      io, [&] { return cp.ready() && co.ready(); }, 5000ms));
  constexpr std::size_t streams = 20, batches = 30, size = 100;
  std::vector<std::unique_ptr<producer>> ps;
  std::vector<std::unique_ptr<redis::owner<acc_t>>> os;
  for (std::size_t s = 0; s < streams; ++s) {
    const std::string name = "poll" + std::to_string(s);
    ps.push_back(
        std::make_unique<producer>(cp, name, 100 + s, static_cast<double>(s), 1.0 + static_cast<double>(s)));
    auto o = owner_opts(name);
    o.block = 0ms;  // a blocked XREAD would hold the shared connection
    os.push_back(std::make_unique<redis::owner<acc_t>>(co, o));
    os.back()->start();
  }
  REQUIRE(run_until(
      io,
      [&] {
        bool done = true;
        for (auto& p : ps) {
          p->pump(batches, size, 2);
          done = done && p->done(batches);
        }
        return done;
      },
      30000ms));
  REQUIRE(run_until(
      io,
      [&] {
        return std::all_of(os.begin(), os.end(),
                           [&](const auto& o) { return o->next_index() == batches * size; });
      },
      30000ms));
  for (std::size_t s = 0; s < streams; ++s) {
    INFO("stream " << s);
    REQUIRE(ps[s]->acked.size() == batches);
    check_ranges(ps[s]->acked);
    check_against_reference(os[s]->state(), ps[s]->acked);
    CHECK(streamstats::save_state(os[s]->state()) == streamstats::save_state(replay(ps[s]->acked)));
  }
}

TEST_CASE(
    "a subscriber on its own connection receives the owner's stored states, and again after Redis restarts") {
  redis_server server;
  asio::io_context io;
  redis::connection cp(io, opts_for(server)), co(io, opts_for(server)), cs(io, opts_for(server));
  for (auto* c : {&cp, &co, &cs})
    c->start();
  REQUIRE(run_until(
      io, [&] { return cp.ready() && co.ready() && cs.ready(); }, 5000ms));
  const std::string stream = "fan";
  std::vector<std::string> messages;
  cs.subscribe(redis::stream_keys::of(stream).channel, [&](std::string_view m) { messages.emplace_back(m); });
  run_for(io, 50ms);  // the SUBSCRIBE is in before anything is published

  auto oo = owner_opts(stream);
  redis::owner<acc_t> o(co, oo);
  o.start();
  // The owner loads before the stream's first sample: the log has no epoch yet, and the owner must
  // learn it from its first store (CI once saw "" published when this order happened by chance).
  REQUIRE(run_until(
      io, [&] { return o.owning(); }, 5000ms));
  CHECK(o.epoch().empty());
  producer p(cp, stream, 31, 0.0, 1.0);
  REQUIRE(run_until(
      io,
      [&] {
        p.pump(20, 100, 1);
        return p.done(20);
      },
      10000ms));
  REQUIRE(run_until(
      io, [&] { return o.next_index() == 2000 && o.stores() > 0; }, 10000ms));
  REQUIRE(run_until(
      io, [&] { return !messages.empty() && messages.back().find("2000 ") == 0; }, 5000ms));
  // Each message is "<next> <id> <epoch>\n" + a state that loads; the last one is the owner's state.
  std::uint64_t prev = 0;
  for (const auto& m : messages) {
    redis::snapshot snap;
    REQUIRE(redis::parse_snapshot(m, snap));
    CHECK(snap.next > prev);
    prev = snap.next;
    acc_t a;
    CHECK(streamstats::load_state(snap.state, a) == streamstats::state_errc::ok);
    CHECK(a.count() == snap.next);
  }
  redis::snapshot last;
  REQUIRE(redis::parse_snapshot(messages.back(), last));
  CHECK(last.state == streamstats::save_state(o.state()));
  CHECK(last.epoch == p.acked.front().epoch);
  CHECK(o.epoch() == p.acked.front().epoch);
  CHECK(get_string(server, {"HGET", o.keys().state, "epoch"}) == p.acked.front().epoch);

  // Redis restarts (nothing persisted): the subscriber subscribes again by itself.
  server.stop(SIGKILL);
  server.start();
  REQUIRE(run_until(
      io, [&] { return cs.connects() == 2 && cs.ready() && cp.connects() == 2 && cp.ready(); }, 5000ms));
  run_for(io, 50ms);
  messages.clear();
  bool published = false;
  cp.command({"PUBLISH", redis::stream_keys::of(stream).channel, "hello"}, [&](const redisReply* r) {
    published = r != nullptr && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
  });
  REQUIRE(run_until(
      io, [&] { return published && !messages.empty(); }, 5000ms));
  CHECK(messages.front() == "hello");

  // Unsubscribed: nothing more arrives.
  cs.unsubscribe(redis::stream_keys::of(stream).channel);
  REQUIRE(run_until(
      io, [&] { return cs.subscriptions() == 0; }, 5000ms));
  long long receivers = -1;
  cp.command({"PUBLISH", redis::stream_keys::of(stream).channel, "again"},
             [&](const redisReply* r) { receivers = r != nullptr ? r->integer : -2; });
  REQUIRE(run_until(
      io, [&] { return receivers >= 0; }, 5000ms));
  CHECK(receivers == 0);
  CHECK(messages.size() == 1);
}

TEST_CASE("a producer id and sequence number make a retried batch count once") {
  redis_server server;
  asio::io_context io;
  redis::connection c(io, opts_for(server));
  c.start();
  REQUIRE(run_until(
      io, [&] { return c.ready(); }, 5000ms));
  redis::stream_log log(c);
  const double a[2] = {1.5, 2.5}, b[1] = {7.0};
  std::vector<redis::append_result> rs;
  auto h = [&](const redis::append_result& r) { rs.push_back(r); };
  log.append("idem", a, 2, h, "node1", 1);
  log.append("idem", a, 2, h, "node1", 1);  // the same batch again: the first answer, not appended
  log.append("idem", b, 1, h, "node1", 2);
  log.append("idem", a, 2, h, "node1", 1);  // older than the last: known to be in, answer gone
  log.append("idem", b, 1, h, "node2", 1);  // another producer has its own numbering
  REQUIRE(run_until(
      io, [&] { return rs.size() == 5; }, 5000ms));
  for (const auto& r : rs)
    REQUIRE(r.ok);
  CHECK_FALSE(rs[0].duplicate);
  CHECK(rs[1].duplicate);
  CHECK(rs[1].id == rs[0].id);
  CHECK(rs[1].first == 0);
  CHECK(rs[1].count == 2);
  CHECK_FALSE(rs[2].duplicate);
  CHECK(rs[2].first == 2);
  CHECK(rs[3].duplicate);
  CHECK(rs[3].id.empty());
  CHECK_FALSE(rs[4].duplicate);
  CHECK(rs[4].first == 3);
  CHECK(get_string(server, {"XLEN", redis::stream_keys::of("idem").log}) == "3");

  // A gap after the last number (a batch before it failed): refused and not appended, so that the
  // missing batch's retry is not taken for a duplicate.
  rs.clear();
  log.append("idem", b, 1, h, "node1", 4);
  log.append("idem", b, 1, h, "node1", 3);
  REQUIRE(run_until(
      io, [&] { return rs.size() == 2; }, 5000ms));
  CHECK_FALSE(rs[0].ok);
  CHECK(rs[0].out_of_order);
  CHECK(rs[0].last_seq == 2);
  REQUIRE(rs[1].ok);
  CHECK_FALSE(rs[1].duplicate);
  CHECK(rs[1].first == 4);
  CHECK(get_string(server, {"XLEN", redis::stream_keys::of("idem").log}) == "4");
}

TEST_CASE("a retrying producer across a Redis crash and restart — every batch is in the log exactly once") {
  redis_server server(/*persist=*/true);
  asio::io_context io;
  redis::connection c(io, opts_for(server));
  c.start();
  REQUIRE(run_until(
      io, [&] { return c.ready(); }, 5000ms));
  redis::stream_log log(c);
  const std::string stream = "retry";
  constexpr std::size_t total = 400, size = 100, window = 8;
  std::mt19937_64 g(77);
  std::normal_distribution<double> dist(3.0, 1.0);
  std::vector<std::vector<double>> data(total, std::vector<double>(size));
  for (auto& v : data)
    for (auto& x : v)
      x = dist(g);
  std::vector<bool> acked(total, false);
  std::size_t next = 0, inflight = 0, unavailable = 0, duplicates = 0, attempts = 0;
  bool failed = false, killed = false, restarted = false;
  clk_time killed_at{};
  auto done = [&] { return std::all_of(acked.begin(), acked.end(), [](bool x) { return x; }); };
  REQUIRE(run_until(
      io,
      [&] {
        if (!killed && next >= total / 3) {
          server.stop(SIGKILL);
          killed = true;
          killed_at = std::chrono::steady_clock::now();
        }
        if (killed && !restarted && std::chrono::steady_clock::now() - killed_at > 300ms) {
          server.start();
          restarted = true;
        }
        if (failed) {
          if (inflight != 0 || !c.ready())
            return false;
          // Resend everything not acknowledged, in order (the script's sequence check needs it).
          next = static_cast<std::size_t>(std::find(acked.begin(), acked.end(), false) - acked.begin());
          failed = false;
        }
        while (inflight < window && next < total && attempts < 100 * total) {
          const std::size_t i = next++;
          if (acked[i])
            continue;
          ++inflight;
          ++attempts;
          log.append(
              stream, data[i].data(), size,
              [&, i](const redis::append_result& r) {
                --inflight;
                if (r.ok) {
                  acked[i] = true;
                  duplicates += r.duplicate;
                } else {
                  ++unavailable;
                  failed = true;
                }
              },
              "p1", i + 1);
        }
        return done() && inflight == 0;
      },
      60000ms));
  CHECK(killed);
  CHECK(restarted);
  CHECK(unavailable > 0);
  const std::vector<batch> logged = read_log(server, stream);
  CHECK(logged.size() == total);  // no batch twice, none missing
  check_ranges(logged);
  std::size_t matched = 0;
  for (std::size_t i = 0; i < total && i < logged.size(); ++i)
    matched += logged[i].data == data[i];
  CHECK(matched == total);  // and in the producer's order
  std::cout << "retry: " << unavailable << " unavailable, " << duplicates
            << " retries recognised as already appended, " << attempts << " appends sent for " << total
            << " batches\n";
}

TEST_CASE("Redis URLs: host, port, database, user and password (percent-decoded), unix:// parameters") {
  auto o = redis::parse_url("redis://127.0.0.1:6380");
  CHECK(o.host == "127.0.0.1");
  CHECK(o.port == 6380);
  CHECK(o.db == 0);
  CHECK(o.password.empty());
  o = redis::parse_url("redis://:p%40ss%3Aw@10.0.0.5/2");
  CHECK(o.host == "10.0.0.5");
  CHECK(o.port == 6379);
  CHECK(o.username.empty());
  CHECK(o.password == "p@ss:w");
  CHECK(o.db == 2);
  o = redis::parse_url("redis://feeder:secret@[::1]:7000/15");
  CHECK(o.host == "::1");
  CHECK(o.port == 7000);
  CHECK(o.username == "feeder");
  CHECK(o.password == "secret");
  CHECK(o.db == 15);
  o = redis::parse_url("redis://legacy@h");  // no colon: the password alone, as redis-cli reads it
  CHECK(o.username.empty());
  CHECK(o.password == "legacy");
  o = redis::parse_url("unix:///run/redis.sock?db=3&password=a%26b&user=u");
  CHECK(o.unix_path == "/run/redis.sock");
  CHECK(o.db == 3);
  CHECK(o.password == "a&b");
  CHECK(o.username == "u");
  CHECK(redis::parse_url("unix:///run/redis.sock").db == 0);
  for (const char* bad : {"rediss://h", "redis://h/x", "redis://h:0", "redis://:@h", "redis://:a%4@h",
                          "unix://relative", "unix:///s?dbx=1", "unix:///s?db=-1", "redis://:p@/2"}) {
    INFO(bad);
    CHECK_THROWS_AS(redis::parse_url(bad), std::invalid_argument);
  }
  // Pub/Sub channels span databases: a database other than 0 gets its own key prefix.
  streamstats::websocket::redis_options ro;
  ro.url = "redis://h/4";
  CHECK(redis::with_db_prefix(ro).prefix == "ss:db4");
  ro.url = "redis://h";
  CHECK(redis::with_db_prefix(ro).prefix == "ss");
}
