// streamstatsd — the streamstats WebSocket server as a program: a TOML config, flags over it,
// declarative pipelines, SIGHUP reload, SIGTERM graceful stop. `streamstatsd --help` lists the
// flags; packaging/streamstatsd.toml documents every key.
// SPDX-License-Identifier: MIT

#include "cli.hpp"

#include <streamstats/websocket/server.hpp>
#if defined(STREAMSTATSD_HAS_REDIS)
#include <streamstats/websocket/redis/broker.hpp>
#endif

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace {

namespace ws = streamstats::websocket;

std::atomic<int> g_log_level{static_cast<int>(ws::log_level::info)};
std::mutex g_log_mutex;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void log(ws::log_level level, const char* fmt, ...) {
  if (static_cast<int>(level) > g_log_level.load(std::memory_order_relaxed)) {
    return;
  }
  std::lock_guard<std::mutex> lk(g_log_mutex);
  std::fprintf(stderr, "streamstatsd: %s: ", ws::to_string(level));
  va_list args;
  va_start(args, fmt);
  std::vfprintf(stderr, fmt, args);
  va_end(args);
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

void print_errors(const ws::config_error& e) {
  for (const auto& line : e.errors()) {
    std::fprintf(stderr, "streamstatsd: error: %s\n", line.c_str());
  }
}

// Applies the reloadable part of `next` to the running server (on its io thread).
void apply_reload(ws::server& server, const ws::daemon_config& next) {
  ws::server_options fresh = ws::to_server_options(next);
  const auto level = next.log.level;
  server.reconfigure([fresh = std::move(fresh), level](ws::server_options& o) {
    o.make_pipeline = fresh.make_pipeline;
    o.max_messages_per_second = fresh.max_messages_per_second;
    o.allowed_origins = fresh.allowed_origins;
    o.producer_token = fresh.producer_token;
    o.anonymous_subscribe = fresh.anonymous_subscribe;
#if defined(STREAMSTATS_WEBSOCKET_TLS)
    o.jwt = fresh.jwt;  // new handshakes verify with the keys read now (rotation without a restart)
#endif
    o.max_connections = fresh.max_connections;
    o.max_streams = fresh.max_streams;
    o.max_queued_bytes = fresh.max_queued_bytes;
    o.snapshot_interval = fresh.snapshot_interval;
    o.document_root = fresh.document_root;
    o.max_connections_per_address = fresh.max_connections_per_address;
    o.idle_timeout = fresh.idle_timeout;
    o.same_origin = fresh.same_origin;
    o.query_budget_per_second = fresh.query_budget_per_second;
    o.max_list_streams = fresh.max_list_streams;
    o.checkpoint_interval = fresh.checkpoint_interval;
    // Printed on the io thread, after the change (from this line on, new streams use it) and
    // before the new log level applies, so that the line appears under the level it replaces.
    log(ws::log_level::info, "configuration reloaded");
    g_log_level.store(static_cast<int>(level), std::memory_order_relaxed);
  });
}

int run(const streamstatsd::cli_options& cli) {
  ws::daemon_config config;
  try {
    config = streamstatsd::effective_config(cli);
  } catch (const ws::config_error& e) {
    print_errors(e);
    return 1;
  }
  auto unsupported = ws::unsupported_features(config);
#if defined(STREAMSTATSD_HAS_REDIS)
  // This build has the Redis broker (docs/scale-out.md).
  unsupported.erase(std::remove_if(unsupported.begin(), unsupported.end(),
                                   [](const std::string& f) { return f.rfind("Redis", 0) == 0; }),
                    unsupported.end());
#endif
  if (cli.check_config) {
    std::fputs(ws::to_toml(config).c_str(), stdout);
    std::fflush(stdout);
    std::fprintf(stderr, "streamstatsd: configuration is valid (%s)\n",
                 cli.config_path.empty() ? "defaults and flags" : cli.config_path.c_str());
    for (const auto& f : unsupported) {
      std::fprintf(stderr, "streamstatsd: note: this build cannot start with %s yet\n", f.c_str());
    }
    return 0;
  }
  if (!unsupported.empty()) {
    for (const auto& f : unsupported) {
      std::fprintf(stderr, "streamstatsd: error: %s is not supported by this build yet; refusing to start\n",
                   f.c_str());
    }
    return 3;
  }
  g_log_level.store(static_cast<int>(config.log.level), std::memory_order_relaxed);

  // SIGHUP is taken by a thread of its own (sigwait), blocked everywhere else: every thread
  // created from here on inherits the mask. SIGINT/SIGTERM go to the server's asio signal_set.
  sigset_t hup;
  sigemptyset(&hup);
  sigaddset(&hup, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &hup, nullptr);

  std::unique_ptr<ws::server> server;
  try {
    ws::server_options options = ws::to_server_options(config);
    // Checkpoint and restore messages (damaged files, streams not restored) go to our log.
    options.log = [](std::string_view level, const std::string& message) {
      const ws::log_level l = level == "error"  ? ws::log_level::error
                              : level == "warn" ? ws::log_level::warn
                                                : ws::log_level::info;
      log(l, "%s", message.c_str());
    };
#if defined(STREAMSTATSD_HAS_REDIS)
    if (!options.redis.url.empty()) {
      options.make_broker = ws::redis::factory();
    }
#endif
    server = std::make_unique<ws::server>(std::move(options));
    server->stop_on_signals({SIGINT, SIGTERM});
    server->listen();
  } catch (const std::exception& e) {
    log(ws::log_level::error, "%s", e.what());
    return 1;
  }
  // First line on stdout, flushed: scripts and tests read the port from it.
  std::printf("listening on %s://%s:%u/\n", config.tls.cert.empty() ? "http" : "https",
              config.server.bind.c_str(), static_cast<unsigned>(server->port()));
  std::fflush(stdout);
  if (config.tls.cert.empty() && (!config.jwt.key_file.empty() || !config.auth.producer_token.empty())) {
    std::error_code ec;
    const auto bind = asio::ip::make_address(config.server.bind, ec);
    if (!ec && !bind.is_loopback()) {
      log(ws::log_level::warn, "tokens travel in clear on %s without [tls] (a reverse proxy must add TLS)",
          config.server.bind.c_str());
    }
  }
  log(ws::log_level::info, "%zu pipeline spec(s), WebSocket endpoint /ws%s%s", config.pipelines.size(),
      config.server.document_root.empty() ? "" : ", files from ", config.server.document_root.c_str());

  std::atomic<bool> stopping{false};
  std::thread reloader([&] {
    for (;;) {
      int sig = 0;
      if (sigwait(&hup, &sig) != 0 || stopping.load()) {
        return;
      }
      if (cli.config_path.empty()) {
        log(ws::log_level::warn, "SIGHUP: no --config file to reload");
        continue;
      }
      try {
        const ws::daemon_config next = streamstatsd::effective_config(cli);
        for (const auto& key : streamstatsd::restart_only_changes(config, next)) {
          log(ws::log_level::warn, "SIGHUP: %s changed; it needs a restart and keeps its running value",
              key.c_str());
        }
        config = streamstatsd::reloadable_part(config, next);
        apply_reload(*server, config);
#if defined(STREAMSTATS_WEBSOCKET_TLS)
        if (!config.tls.cert.empty()) {
          // Here, not on the io thread: reading and checking the files never stalls a connection.
          // A failure keeps the running certificate (a renewal half written must not stop us).
          try {
            server->reload_tls({config.tls.cert, config.tls.key, config.tls.client_ca});
            log(ws::log_level::info, "TLS certificate reloaded");
          } catch (const ws::tls_error& e) {
            log(ws::log_level::error, "SIGHUP: %s; still serving the previous certificate", e.what());
          }
        }
#endif
      } catch (const ws::config_error& e) {
        for (const auto& line : e.errors()) {
          log(ws::log_level::error, "SIGHUP: %s", line.c_str());
        }
        log(ws::log_level::error, "SIGHUP: the configuration is invalid; still running the previous one");
      } catch (const std::exception& e) {
        log(ws::log_level::error, "SIGHUP: %s; still running the previous configuration", e.what());
      }
    }
  });

  server->run();  // returns after SIGINT/SIGTERM: final snapshots sent, connections closed with 1001
  stopping.store(true);
  pthread_kill(reloader.native_handle(), SIGHUP);
  reloader.join();
  const auto st = server->stats();
  log(ws::log_level::info, "stopped: %llu samples, %llu snapshots and %llu alerts sent, %llu rejected",
      static_cast<unsigned long long>(st.samples), static_cast<unsigned long long>(st.snapshots_sent),
      static_cast<unsigned long long>(st.alerts_sent), static_cast<unsigned long long>(st.rejected));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  streamstatsd::cli_options cli;
  try {
    cli = streamstatsd::parse_cli(argc, argv);
  } catch (const streamstatsd::usage_error& e) {
    std::fprintf(stderr, "streamstatsd: %s\n%s", e.what(), streamstatsd::usage_text);
    return 2;
  }
  if (cli.help) {
    std::fputs(streamstatsd::usage_text, stdout);
    return 0;
  }
  if (cli.version) {
    std::fputs(streamstatsd::version_text().c_str(), stdout);
    return 0;
  }
  try {
    return run(cli);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "streamstatsd: error: %s\n", e.what());
    return 1;
  }
}
