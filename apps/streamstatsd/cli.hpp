// streamstatsd — command line: flags, how they override the config file, and what a SIGHUP reload
// may change. Kept out of main.cpp so that the tests can call it.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/version.hpp>
#include <streamstats/websocket/config.hpp>

#include <asio/ip/address.hpp>

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace streamstatsd {

namespace ws = streamstats::websocket;

// A flag the command line cannot accept (unknown flag, missing or malformed value): exit 2.
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr const char* usage_text =
    "usage: streamstatsd [--config FILE] [--check-config] [--bind ADDR] [--port N]\n"
    "                    [--tls-cert PEM] [--tls-key PEM] [--tls-client-ca PEM] [--state-dir DIR]\n"
    "                    [--checkpoint-interval MS]\n"
    "                    [--redis URL]\n"
    "                    [--document-root DIR] [--log-level error|warn|info|debug] [--help] [--version]\n"
    "\n"
    "  --config FILE        TOML configuration (packaging/streamstatsd.toml documents every key);\n"
    "                       without it, the defaults. Flags override the file.\n"
    "  --check-config       validate the file and flags, print the effective configuration,\n"
    "                       exit 0 when valid and 1 when not\n"
    "  --bind ADDR          listen address (server.bind, default 127.0.0.1)\n"
    "  --port N             listen port, 0 = any free port (server.port, default 8080)\n"
    "  --document-root DIR  serve the files of DIR over HTTP on the same port (server.document_root)\n"
    "  --log-level LEVEL    streamstatsd's own messages on stderr (log.level, default info)\n"
    "  --tls-cert PEM, --tls-key PEM   serve wss:// and https:// with this certificate chain and key\n"
    "                       (tls.cert, tls.key)\n"
    "  --tls-client-ca PEM  mutual TLS: require client certificates signed by these CAs (tls.client_ca)\n"
    "  --state-dir DIR      checkpoint directory (state.dir): streams saved there periodically and at\n"
    "                       SIGTERM/SIGINT, restored at start\n"
    "  --checkpoint-interval MS   between checkpoints, in ms (or with a unit: 500ms, 30s, 5m);\n"
    "                       0 = only at stop (state.checkpoint_interval_ms, default 30000)\n"
    "  --redis URL          redis://[:pass@]host[:port][/db] or unix:///path[?db=N&password=P]\n"
    "                       broker between nodes (redis.url;\n"
    "                       docs/scale-out.md; builds with hiredis only)\n"
    "\n"
    "Signals: SIGHUP reloads the config file (pipelines for new streams, limits, origins, token, JWT\n"
    "keys, log level) and the TLS certificate without dropping connections; SIGTERM or SIGINT stops\n"
    "gracefully.\n";

struct cli_options {
  std::string config_path;  // "" = no file, defaults
  bool check_config = false;
  bool help = false;
  bool version = false;
  std::optional<std::string> bind;
  std::optional<std::uint16_t> port;
  std::optional<std::string> document_root;
  std::optional<ws::log_level> log_level;
  std::optional<std::string> tls_cert;
  std::optional<std::string> tls_key;
  std::optional<std::string> tls_client_ca;
  std::optional<std::string> state_dir;
  std::optional<std::uint32_t> checkpoint_interval_ms;
  std::optional<std::string> redis;
};

// "30000", "30000ms", "30s", "5m" → milliseconds (0 … 24 h); nullopt when malformed.
[[nodiscard]] inline std::optional<std::uint32_t> parse_duration_ms(const std::string& v) {
  std::size_t digits = 0;
  while (digits < v.size() && v[digits] >= '0' && v[digits] <= '9') {
    ++digits;
  }
  if (digits == 0 || digits > 9) {
    return std::nullopt;
  }
  const std::string unit = v.substr(digits);
  std::uint64_t scale = 0;
  if (unit.empty() || unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1000;
  } else if (unit == "m") {
    scale = 60000;
  } else {
    return std::nullopt;
  }
  const std::uint64_t ms = std::stoull(v.substr(0, digits)) * scale;
  if (ms > 86400000) {
    return std::nullopt;
  }
  return static_cast<std::uint32_t>(ms);
}

// Accepts "--flag value" and "--flag=value". Throws usage_error.
[[nodiscard]] inline cli_options parse_cli(int argc, const char* const* argv) {
  cli_options o;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    std::optional<std::string> inline_value;
    if (const auto eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = flag.substr(eq + 1);
      flag.resize(eq);
    }
    auto value = [&]() -> std::string {
      if (inline_value) {
        return *inline_value;
      }
      if (i + 1 >= argc) {
        throw usage_error(flag + " needs a value");
      }
      return argv[++i];
    };
    auto no_value = [&] {
      if (inline_value) {
        throw usage_error(flag + " takes no value");
      }
    };
    if (flag == "--help" || flag == "-h") {
      no_value();
      o.help = true;
    } else if (flag == "--version") {
      no_value();
      o.version = true;
    } else if (flag == "--check-config") {
      no_value();
      o.check_config = true;
    } else if (flag == "--config") {
      o.config_path = value();
      if (o.config_path.empty()) {
        throw usage_error("--config needs a file name");
      }
    } else if (flag == "--bind") {
      o.bind = value();
    } else if (flag == "--port") {
      const std::string v = value();
      char* end = nullptr;
      const unsigned long n = std::strtoul(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || v.front() == '-' || v.front() == '+' || n > 65535) {
        throw usage_error("--port: '" + v + "' is not a port number (0 … 65535)");
      }
      o.port = static_cast<std::uint16_t>(n);
    } else if (flag == "--document-root") {
      o.document_root = value();
    } else if (flag == "--log-level") {
      const std::string v = value();
      for (const auto l :
           {ws::log_level::error, ws::log_level::warn, ws::log_level::info, ws::log_level::debug}) {
        if (v == ws::to_string(l)) {
          o.log_level = l;
        }
      }
      if (!o.log_level) {
        throw usage_error("--log-level: '" + v + "' is not one of error, warn, info, debug");
      }
    } else if (flag == "--tls-cert") {
      o.tls_cert = value();
    } else if (flag == "--tls-key") {
      o.tls_key = value();
    } else if (flag == "--tls-client-ca") {
      o.tls_client_ca = value();
    } else if (flag == "--state-dir") {
      o.state_dir = value();
    } else if (flag == "--checkpoint-interval") {
      const std::string v = value();
      o.checkpoint_interval_ms = parse_duration_ms(v);
      if (!o.checkpoint_interval_ms) {
        throw usage_error("--checkpoint-interval: '" + v +
                          "' is not a duration (milliseconds, or with a unit: 500ms, 30s, 5m; at most 24 h)");
      }
    } else if (flag == "--redis") {
      o.redis = value();
    } else {
      throw usage_error("unknown option '" + std::string(argv[i]) + "'");
    }
  }
  return o;
}

// The flags over the file's values.
inline void apply_cli(const cli_options& o, ws::daemon_config& c) {
  if (o.bind) {
    c.server.bind = *o.bind;
  }
  if (o.port) {
    c.server.port = *o.port;
  }
  if (o.document_root) {
    c.server.document_root = *o.document_root;
  }
  if (o.log_level) {
    c.log.level = *o.log_level;
  }
  if (o.tls_cert) {
    c.tls.cert = *o.tls_cert;
  }
  if (o.tls_key) {
    c.tls.key = *o.tls_key;
  }
  if (o.tls_client_ca) {
    c.tls.client_ca = *o.tls_client_ca;
  }
  if (o.state_dir) {
    c.state.dir = *o.state_dir;
  }
  if (o.checkpoint_interval_ms) {
    c.state.checkpoint_interval_ms = *o.checkpoint_interval_ms;
  }
  if (o.redis) {
    c.redis.url = *o.redis;
  }
}

// The configuration streamstatsd runs with: the file (or the defaults), the flags over it, then
// the checks only the machine can make (files, directories, the listen address). Throws
// ws::config_error listing every problem.
[[nodiscard]] inline ws::daemon_config effective_config(const cli_options& o) {
  ws::daemon_config c = o.config_path.empty() ? ws::daemon_config{} : ws::load_config(o.config_path);
  apply_cli(o, c);
  std::vector<std::string> errors = ws::check_environment(c);
  std::error_code ec;
  (void)asio::ip::make_address(c.server.bind, ec);
  if (ec) {
    errors.insert(errors.begin(), "server.bind: \"" + c.server.bind + "\" is not an IPv4 or IPv6 address");
  }
  if (!errors.empty()) {
    throw ws::config_error(std::move(errors));
  }
  return c;
}

// What a SIGHUP reload cannot apply to a running server (the socket, the endpoint's limits and
// the features this build does not serve): the keys that differ between the running and the new
// configuration. They keep their running values until a restart.
[[nodiscard]] inline std::vector<std::string> restart_only_changes(const ws::daemon_config& running,
                                                                   const ws::daemon_config& next) {
  std::vector<std::string> keys;
  auto check = [&](bool differs, const char* key) {
    if (differs) {
      keys.emplace_back(key);
    }
  };
  check(running.server.bind != next.server.bind, "server.bind");
  check(running.server.port != next.server.port, "server.port");
  check(running.server.max_message_size != next.server.max_message_size, "server.max_message_size");
  check(running.server.shutdown_timeout_ms != next.server.shutdown_timeout_ms, "server.shutdown_timeout_ms");
  check(running.server.io_threads != next.server.io_threads, "server.io_threads");
  // TLS on or off changes the endpoint; new files (or the same files renewed) are reloaded.
  check(running.tls.cert.empty() != next.tls.cert.empty(), "tls (on/off)");
  check(running.state.dir != next.state.dir, "state.dir");
  check(running.redis.url != next.redis.url, "redis.url");
  check(running.redis.lease_ttl_ms != next.redis.lease_ttl_ms, "redis.lease_ttl_ms");
  return keys;
}

// The next configuration with the restart-only keys put back to their running values: what a
// reload applies.
[[nodiscard]] inline ws::daemon_config reloadable_part(const ws::daemon_config& running,
                                                       ws::daemon_config next) {
  next.server.bind = running.server.bind;
  next.server.port = running.server.port;
  next.server.max_message_size = running.server.max_message_size;
  next.server.shutdown_timeout_ms = running.server.shutdown_timeout_ms;
  next.server.io_threads = running.server.io_threads;
  if (running.tls.cert.empty() != next.tls.cert.empty()) {
    next.tls = running.tls;
  }
  next.state.dir = running.state.dir;  // checkpoint_interval_ms is reloadable
  next.redis = running.redis;
  return next;
}

[[nodiscard]] inline std::string version_text() {
  return "streamstatsd " + std::to_string(STREAMSTATS_VERSION_MAJOR) + "." +
         std::to_string(STREAMSTATS_VERSION_MINOR) + "." + std::to_string(STREAMSTATS_VERSION_PATCH) + "\n";
}

}  // namespace streamstatsd
