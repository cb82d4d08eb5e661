// Scale-out over Redis (docs/scale-out.md): samples/s through Redis with binary batches against the
// in-memory push, failover time, Redis memory per stream. Starts its own redis-server on a unix
// socket in a temporary directory (tests/redis/redis_server.hpp), one io_context, one thread.
// Prints Markdown tables.
//   build/bench/bench/redis_bench [--quick]
#include "../tests/redis/redis_server.hpp"

#include <streamstats/extrema.hpp>
#include <streamstats/multi.hpp>
#include <streamstats/state.hpp>
#include <streamstats/variance.hpp>
#include <streamstats/websocket/redis.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <sys/resource.h>

namespace redis = streamstats::websocket::redis;
using streamstats_test::redis_server;
using streamstats_test::run_for;
using streamstats_test::run_until;
using namespace std::chrono_literals;
using acc_t = streamstats::multi<streamstats::variance<double>, streamstats::extrema<double>>;
using clk = std::chrono::steady_clock;

namespace {

double secs(clk::duration d) { return std::chrono::duration<double>(d).count(); }

redis::connection_options opts(const redis_server& s) {
  redis::connection_options o;
  o.unix_path = s.socket_path();
  o.backoff_min = 10ms;
  o.backoff_max = 100ms;
  o.command_timeout = 5000ms;
  return o;
}

std::vector<double> make_data(std::size_t n) {
  std::mt19937_64 g(42);
  std::normal_distribution<double> d(100.0, 15.0);
  std::vector<double> v(n);
  for (auto& x : v)
    x = d(g);
  return v;
}

long long used_memory(asio::io_context& io, redis::connection& c) {
  long long out = -1;
  bool done = false;
  c.command({"INFO", "memory"}, [&](const redisReply* r) {
    done = true;
    auto s = redis::reply_str(r);
    auto at = s.find("used_memory:");
    if (at != std::string_view::npos)
      out = std::stoll(std::string(s.substr(at + 12, 20)));
  });
  run_until(
      io, [&] { return done; }, 5000ms);
  return out;
}

// Redis' CPU seconds (user + sys) so far, from INFO cpu.
double redis_cpu(asio::io_context& io, redis::connection& c) {
  double out = -1;
  bool done = false;
  c.command({"INFO", "cpu"}, [&](const redisReply* r) {
    done = true;
    auto s = std::string(redis::reply_str(r));
    auto field = [&](const char* k) {
      auto at = s.find(k);
      return at == std::string::npos ? 0.0 : std::stod(s.substr(at + std::strlen(k)));
    };
    out = field("used_cpu_sys:") + field("used_cpu_user:");
  });
  run_until(
      io, [&] { return done; }, 5000ms);
  return out;
}

// This process' CPU seconds (user + sys).
double self_cpu() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

// Prints one table row: rate, and the CPU both sides spent per million samples.
struct cpu_probe {
  asio::io_context& io;
  redis::connection& c;
  double r0 = redis_cpu(io, c), s0 = self_cpu();
  void row(const char* what, std::size_t batch, double rate, double mem_rate, std::size_t samples) {
    const double r = redis_cpu(io, c) - r0, s = self_cpu() - s0;
    const double m = static_cast<double>(samples) / 1e6;
    std::printf("| %s | %zu | %.3g | %.3f | %.3f | %.3f |\n", what, batch, rate, rate / mem_rate, r / m,
                s / m);
  }
};

void command_sync(asio::io_context& io, redis::connection& c, std::vector<std::string_view> args) {
  bool done = false;
  c.command(args, [&](const redisReply*) { done = true; });
  run_until(
      io, [&] { return done; }, 10000ms);
}

// Appends `batches` batches of `size` from `data` (cycled) on each connection, `window` in flight per
// connection; returns acknowledged samples per second.
double ingest(asio::io_context& io, std::vector<redis::connection*> cs, const std::string& stream,
              const std::vector<double>& data, std::size_t size, std::size_t batches, std::size_t window) {
  std::vector<std::unique_ptr<redis::stream_log>> logs;
  for (auto* c : cs)
    logs.push_back(std::make_unique<redis::stream_log>(*c));
  std::vector<std::size_t> issued(cs.size()), inflight(cs.size());
  std::size_t acked = 0, failed = 0;
  const auto t0 = clk::now();
  run_until(
      io,
      [&] {
        for (std::size_t k = 0; k < cs.size(); ++k) {
          while (inflight[k] < window && issued[k] < batches) {
            const std::size_t off = (issued[k] * size) % (data.size() - size);
            ++issued[k];
            ++inflight[k];
            logs[k]->append(stream, data.data() + off, size, [&, k](const redis::append_result& r) {
              --inflight[k];
              (r.ok ? acked : failed) += 1;
            });
          }
        }
        return acked + failed == batches * cs.size();
      },
      300000ms);
  const double t = secs(clk::now() - t0);
  if (failed != 0)
    std::printf("<!-- %zu appends failed -->\n", failed);
  return static_cast<double>(acked * size) / t;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  const std::size_t total = quick ? 1'000'000 : 5'000'000;
  const auto data = make_data(1 << 20);

  std::printf("## Scale-out over Redis (redis_bench%s)\n\n", quick ? " --quick" : "");
  std::printf("redis-server 7.0 and this process on the same machine, unix socket, no persistence; one\n");
  std::printf("io_context, one thread. Accumulator: multi<variance<double>, extrema<double>>.\n\n");

  // ---- in memory --------------------------------------------------------------------------------
  double mem_rate = 0;
  {
    acc_t a;
    const std::size_t n = quick ? 20'000'000 : 100'000'000;
    const auto t0 = clk::now();
    for (std::size_t done = 0; done < n; done += 1000) {
      const std::size_t off = done % (data.size() - 1000);
      a.push(data.data() + off, data.data() + off + 1000);
    }
    mem_rate = static_cast<double>(n) / secs(clk::now() - t0);
    std::printf("<!-- %f -->\n", a.get<streamstats::variance<double>>().mean());
  }

  redis_server server;
  asio::io_context io;
  redis::connection c1(io, opts(server)), c2(io, opts(server)), co(io, opts(server)), cq(io, opts(server));
  for (auto* c : {&c1, &c2, &co, &cq})
    c->start();
  run_until(
      io, [&] { return c1.ready() && c2.ready() && co.ready() && cq.ready(); }, 5000ms);

  std::printf(
      "| path | batch (doubles) | samples/s | vs in-memory | Redis CPU s / 10^6 samples | node CPU s / 10^6 "
      "samples |\n");
  std::printf("|---|---:|---:|---:|---:|---:|\n");
  std::printf("| in-memory push(first, last) | 1000 | %.3g | 1 | – | %.4f |\n", mem_rate, 1e6 / mem_rate);

  // ---- ingest only: batch sizes, one and two producer connections ---------------------------------
  int sn = 0;
  for (std::size_t size : {100u, 1000u, 10000u}) {
    const std::size_t batches = total / size;
    cpu_probe p{io, cq};
    const double r = ingest(io, {&c1}, "ing" + std::to_string(sn++), data, size, batches, 32);
    p.row("ingest (XADD via script), 1 connection", size, r, mem_rate, batches * size);
  }
  {
    cpu_probe p{io, cq};
    const double r = ingest(io, {&c1, &c2}, "ing" + std::to_string(sn++), data, 1000, total / 2000, 32);
    p.row("ingest, 2 connections", 1000, r, mem_rate, total);
  }

  // ---- owner apply from a filled log ---------------------------------------------------------------
  {
    ingest(io, {&c1}, "apply", data, 1000, total / 1000, 32);
    redis::owner_options oo;
    oo.stream = "apply";
    oo.read_count = 128;
    redis::owner<acc_t> o(co, oo);
    cpu_probe p{io, cq};
    const auto t0 = clk::now();
    o.start();
    run_until(
        io, [&] { return o.next_index() == total; }, 300000ms);
    const double r = static_cast<double>(total) / secs(clk::now() - t0);
    p.row("owner: XREAD + apply + store + trim (log already filled)", 1000, r, mem_rate, total);
    o.stop();
  }

  // ---- one node end to end: ingest and apply at once ---------------------------------------------
  {
    redis::owner_options oo;
    oo.stream = "e2e";
    redis::owner<acc_t> o(co, oo);
    o.start();
    run_until(
        io, [&] { return o.owning(); }, 5000ms);
    cpu_probe p{io, cq};
    const auto t0 = clk::now();
    ingest(io, {&c1}, "e2e", data, 1000, total / 1000, 32);
    run_until(
        io, [&] { return o.next_index() == total; }, 300000ms);
    const double r = static_cast<double>(total) / secs(clk::now() - t0);
    p.row("one node end to end: ingest + owner apply, same thread", 1000, r, mem_rate, total);
    o.stop();
  }

  // ---- failover ------------------------------------------------------------------------------------
  std::printf(
      "\n| failover (owner crashes: no release) | lease TTL | crash → successor's first stored state |\n");
  std::printf("|---|---:|---:|\n");
  for (auto ttl : {500ms, 1000ms}) {
    std::vector<double> times;
    for (int rep = 0; rep < (quick ? 2 : 5); ++rep) {
      const std::string stream = "fo" + std::to_string(ttl.count()) + "_" + std::to_string(rep);
      auto ca = std::make_unique<redis::connection>(io, opts(server));
      ca->start();
      redis::owner_options oa;
      oa.stream = stream;
      oa.lease_ttl = ttl;
      auto a = std::make_unique<redis::owner<acc_t>>(*ca, oa);
      a->start();
      run_until(
          io, [&] { return a->owning(); }, 5000ms);
      redis::owner<acc_t> b(co, oa);  // started second: it waits for the lease
      b.start();
      ingest(io, {&c1}, stream, data, 1000, 20, 8);
      run_until(
          io, [&] { return a->next_index() == 20000; }, 5000ms);
      bool resumed = false;
      clk::time_point t_resumed{};
      b.on_applied = [&](const acc_t&, std::uint64_t) {
        if (!resumed)
          t_resumed = clk::now();
        resumed = true;
      };
      // The crash: the owner and its connection vanish without releasing anything.
      a->stop(false);
      a.reset();
      ca.reset();
      const auto t_crash = clk::now();
      // Producers keep going: one batch every 10 ms.
      std::size_t sent = 0;
      run_until(
          io,
          [&] {
            if (sent < 1000 && clk::now() - t_crash > sent * 10ms) {
              ++sent;
              redis::stream_log(c1).append(stream, data.data(), 1000, nullptr);
            }
            return resumed;
          },
          10000ms);
      if (resumed)
        times.push_back(secs(t_resumed - t_crash) * 1000);
      b.stop();
    }
    std::sort(times.begin(), times.end());
    if (times.empty())
      times.push_back(-1);
    std::printf("| median of %zu (max) | %lld ms | %.0f ms (%.0f ms) |\n", times.size(),
                static_cast<long long>(ttl.count()), times[times.size() / 2], times.back());
  }

  // ---- memory per stream ---------------------------------------------------------------------------
  {
    command_sync(io, cq, {"FLUSHALL"});
    run_for(io, 100ms);
    const long long base = used_memory(io, cq);
    const std::size_t streams = quick ? 1000 : 10000;
    acc_t a;
    a.push(data.data(), data.data() + 1000);
    const std::string state = streamstats::save_state(a);
    // Each stream: 10 batches of 100 doubles, then a stored state (lease + state hash), log trimmed.
    std::size_t pending = 0;
    redis::stream_log log(c1);
    for (std::size_t s = 0; s < streams; ++s) {
      for (int b = 0; b < 10; ++b) {
        ++pending;
        log.append("m" + std::to_string(s), data.data() + b * 100, 100,
                   [&](const redis::append_result&) { --pending; });
      }
      if (s % 256 == 255)
        run_until(
            io, [&] { return pending == 0; }, 30000ms);
    }
    run_until(
        io, [&] { return pending == 0; }, 30000ms);
    const long long with_log = used_memory(io, cq);
    for (std::size_t s = 0; s < streams; ++s) {
      const auto k = redis::stream_keys::of("m" + std::to_string(s));
      ++pending;
      c1.command({"SET", k.lease, "tok", "PX", "600000"}, nullptr);
      // The last entry id: "+" trims nothing useful, so trim to MAXLEN 1 semantics via the real id.
      c1.command({"XREVRANGE", k.log, "+", "-", "COUNT", "1"}, [&, k](const redisReply* r) {
        std::string id(redis::reply_str(r->element[0]->element[0]));
        c1.command({"EVAL", redis::scripts::store, "4", k.lease, k.state, k.log, k.meta, "tok", state, id,
                    "1000", "e", "1", ""},
                   [&](const redisReply*) { --pending; });
      });
      if (s % 256 == 255)
        run_until(
            io, [&] { return pending == 0; }, 30000ms);
    }
    run_until(
        io, [&] { return pending == 0; }, 30000ms);
    const long long trimmed = used_memory(io, cq);
    std::printf("\n| Redis memory (INFO used_memory), %zu streams | bytes per stream |\n|---|---:|\n",
                streams);
    std::printf("| log of 10 entries × 100 doubles + meta | %.0f |\n",
                static_cast<double>(with_log - base) / static_cast<double>(streams));
    std::printf("| + lease + stored state (%zu B), log trimmed to its last entry | %.0f |\n", state.size(),
                static_cast<double>(trimmed - base) / static_cast<double>(streams));
  }
  return 0;
}
