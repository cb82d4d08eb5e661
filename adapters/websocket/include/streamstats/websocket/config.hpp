// streamstats::websocket — streamstatsd's configuration: a TOML file read into typed structs.
// SPDX-License-Identifier: MIT
//
// One struct per section, each field's default beside it (the defaults are what an absent key
// means). Reading refuses an unknown key, a wrong type and an out-of-range value with an error
// that names the key and its line ("streamstatsd.toml:12:1: server.port: 70000 is out of range
// 0 … 65535"); every such error of a file is reported, not only the first.
//
// This header needs toml++ (Debian libtomlplusplus-dev, CMake target tomlplusplus::tomlplusplus);
// nothing else in the adapter does, so the library stays header-only without it.
#pragma once

#include <streamstats/websocket/pipeline_spec.hpp>
#include <streamstats/websocket/server.hpp>
#if defined(STREAMSTATS_WEBSOCKET_TLS)
#include <streamstats/websocket/jwt.hpp>
#include <streamstats/websocket/tls.hpp>
#endif

#include <toml++/toml.h>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace streamstats::websocket {

enum class log_level { error, warn, info, debug };

// [server]: the listening socket, limits and the page. Every field maps to the server_options
// field of the same name (address ← bind).
struct server_section {
  std::string bind = "127.0.0.1";
  std::uint16_t port = 8080;  // 0 = any free port (printed at start)
  std::string document_root;  // "" = no HTTP files
  std::size_t max_connections = 1024;
  std::size_t max_streams = 1024;
  std::size_t max_message_size = std::size_t(1) << 20;
  std::size_t max_queued_bytes = std::size_t(1) << 20;
  double max_messages_per_second = 0.0;  // per connection, 0 = unlimited
  std::uint32_t snapshot_interval_ms = 100;
  std::uint32_t shutdown_timeout_ms = 2000;
  std::vector<std::string> allowed_origins;  // empty = every origin
  // The hostile-client limits (issue 9), each the server_options field of the same name.
  std::size_t max_connections_per_address = 128;  // 0 = no per-address limit
  std::uint32_t idle_timeout_ms = 30000;          // 0 = never close idle connections
  bool same_origin = false;
  double query_budget_per_second = 2048.0;  // 0 = unlimited
  std::size_t max_list_streams = 256;
  std::size_t io_threads = 1;  // each stream owned by one of them (restart to change)
};

// [auth]: the shared bearer token producers may present ("" = none), and whether a client
// without a valid credential may subscribe (unset: yes without [jwt], no with it).
struct auth_section {
  std::string producer_token;
  std::optional<bool> anonymous_subscribe;
};

// [jwt]: JSON Web Token access with per-stream rights (auth.hpp, jwt.hpp). Off while key_file is "".
struct jwt_section {
  std::string algorithm;          // "HS256", "RS256", ... (required with key_file; never from the token)
  std::string key_file;           // HS*: the shared secret (the file's bytes, a final newline dropped);
                                  // RS*/ES*: the issuer's public key (PEM)
  std::string previous_key_file;  // rotation: the key before, accepted until previous_key_until
  std::int64_t previous_key_until = 0;  // Unix seconds (or a TOML offset date-time in the file)
  std::string issuer;                   // required `iss` ("" = not checked)
  std::string audience;                 // required in `aud` ("" = not checked)
  std::uint32_t leeway_s = 30;          // clock skew allowed on exp and nbf
  std::string rights_claim = "streams";
};

// [tls]: certificate chain and private key (PEM) for wss:// and https:// on the server's port, and
// optionally the CAs whose client certificates are required (mutual TLS).
struct tls_section {
  std::string cert;
  std::string key;
  std::string client_ca;
};

// [state]: checkpoints (issue 11): the directory ("" = none) and the period between them.
struct state_section {
  std::string dir;
  std::uint32_t checkpoint_interval_ms = 30000;  // 0 = only at a graceful stop
};

// [redis]: the broker between nodes (issue 14, docs/scale-out.md); empty url = none.
struct redis_section {
  std::string url;
  std::uint32_t lease_ttl_ms = 1000;  // a stream's owner lease: failover takes ~TTL to TTL + TTL/3
};

// [log]: streamstatsd's own messages on stderr at or above this level.
struct log_section {
  log_level level = log_level::info;
};

struct daemon_config {
  server_section server;
  auth_section auth;
  jwt_section jwt;
  tls_section tls;
  state_section state;
  redis_section redis;
  log_section log;
  // [[pipeline]] tables in file order: the first whose `match` glob fits a new stream's name
  // decides its statistics; a stream no glob fits gets default_pipeline_spec().
  std::vector<pipeline_spec> pipelines;
};

// Every problem found in a configuration, one "source:line:column: key: reason" per entry.
class config_error : public std::runtime_error {
 public:
  explicit config_error(std::vector<std::string> errors)
      : std::runtime_error(join(errors)), errors_(std::move(errors)) {}
  [[nodiscard]] const std::vector<std::string>& errors() const noexcept { return errors_; }

 private:
  static std::string join(const std::vector<std::string>& e) {
    std::string s;
    for (const auto& x : e) {
      s += (s.empty() ? "" : "\n") + x;
    }
    return s;
  }
  std::vector<std::string> errors_;
};

[[nodiscard]] inline const char* to_string(log_level l) noexcept {
  switch (l) {
    case log_level::error:
      return "error";
    case log_level::warn:
      return "warn";
    case log_level::debug:
      return "debug";
    case log_level::info:
    default:
      return "info";
  }
}

[[nodiscard]] inline const char* to_string(zscore_side s) noexcept {
  return s == zscore_side::upper ? "upper" : s == zscore_side::lower ? "lower" : "both";
}

namespace detail {

// detector_period's string form: "auto" (one day) or an integer followed by one unit — s, m, h, d or
// w — in 1 s … 3660 days. The cycle in seconds, 0 when `text` is none of those.
[[nodiscard]] inline double parse_cycle(std::string_view text) noexcept {
  if (text == "auto") {
    return seasonal_options{}.cycle;
  }
  if (text.size() < 2 || text.size() > 12) {
    return 0.0;
  }
  double unit = 0.0;
  switch (text.back()) {
    case 's':
      unit = 1.0;
      break;
    case 'm':
      unit = 60.0;
      break;
    case 'h':
      unit = 3600.0;
      break;
    case 'd':
      unit = 86400.0;
      break;
    case 'w':
      unit = 7 * 86400.0;
      break;
    default:
      return 0.0;
  }
  double n = 0.0;
  for (std::size_t i = 0; i + 1 < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') {
      return 0.0;
    }
    n = 10.0 * n + (text[i] - '0');
  }
  const double cycle = n * unit;
  return cycle >= 1.0 && cycle <= 3660.0 * 86400.0 ? cycle : 0.0;
}

// The JOSE names jwt.hpp accepts (kept here too: config.hpp builds without libjwt).
[[nodiscard]] inline bool is_jwt_algorithm(std::string_view a) noexcept {
  for (const char* n : {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512"}) {
    if (a == n) {
      return true;
    }
  }
  return false;
}

// A TOML offset date-time as Unix seconds (fractions dropped).
[[nodiscard]] inline std::int64_t unix_seconds(const toml::date_time& dt) noexcept {
  // Days from civil (Howard Hinnant's algorithm), valid for the proleptic Gregorian calendar.
  const int y = static_cast<int>(dt.date.year) - (dt.date.month <= 2 ? 1 : 0);
  const int era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned m = dt.date.month;
  const unsigned doy = (153U * (m > 2 ? m - 3U : m + 9U) + 2U) / 5U + dt.date.day - 1U;
  const unsigned doe = yoe * 365U + yoe / 4U - yoe / 100U + doy;
  const std::int64_t days = static_cast<std::int64_t>(era) * 146097 + static_cast<std::int64_t>(doe) - 719468;
  const std::int64_t offset_min = dt.offset ? dt.offset->minutes : 0;
  return days * 86400 + dt.time.hour * 3600 + dt.time.minute * 60 + dt.time.second - offset_min * 60;
}

// Reads one TOML document into a daemon_config, collecting errors instead of stopping at the first.
class config_reader {
 public:
  explicit config_reader(std::string source) : source_(std::move(source)) {}

  // The errors in file order.
  [[nodiscard]] std::vector<std::string> errors() const {
    auto sorted = errors_;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<std::string> out;
    for (auto& e : sorted) {
      out.push_back(std::move(e.second));
    }
    return out;
  }

  void error(const toml::source_region& where, const std::string& key, const std::string& reason) {
    errors_.emplace_back(std::pair{where.begin.line, where.begin.column},
                         source_ + ":" + std::to_string(where.begin.line) + ":" +
                             std::to_string(where.begin.column) + ": " + key + ": " + reason);
  }

  using handler = std::function<void(const toml::node&, const std::string& key)>;

  // Calls the handler of every key of `t`; a key without a handler is an error.
  void table(const toml::table& t, const std::string& prefix,
             const std::map<std::string, handler>& handlers) {
    for (auto&& [k, v] : t) {
      const std::string name(k.str());
      const std::string path = prefix.empty() ? name : prefix + "." + name;
      const auto it = handlers.find(name);
      if (it == handlers.end()) {
        error(k.source(), path, "unknown key");
        continue;
      }
      it->second(v, path);
    }
  }

  // Handlers for one field: each checks the type and the range and stores the value.
  handler string(std::string& out) {
    return [this, &out](const toml::node& n, const std::string& key) {
      if (const auto* s = n.as_string()) {
        out = s->get();
      } else {
        wrong_type(n, key, "a string");
      }
    };
  }
  handler boolean(bool& out) {
    return [this, &out](const toml::node& n, const std::string& key) {
      if (const auto* b = n.as_boolean()) {
        out = b->get();
      } else {
        wrong_type(n, key, "a boolean (true or false)");
      }
    };
  }
  template <class Int>
  handler integer(Int& out, std::int64_t lo, std::int64_t hi) {
    return [this, &out, lo, hi](const toml::node& n, const std::string& key) {
      const auto* i = n.as_integer();
      if (i == nullptr) {
        wrong_type(n, key, "an integer");
        return;
      }
      const std::int64_t v = i->get();
      if (v < lo || v > hi) {
        error(n.source(), key,
              std::to_string(v) + " is out of range " + std::to_string(lo) + " … " + std::to_string(hi));
        return;
      }
      out = static_cast<Int>(v);
    };
  }
  // A number (integer or float) in [lo, hi] (or (lo, hi] when lo_open).
  handler number(double& out, double lo, double hi, bool lo_open = false) {
    return [this, &out, lo, hi, lo_open](const toml::node& n, const std::string& key) {
      double v = 0.0;
      if (!read_number(n, key, v)) {
        return;
      }
      if (!(lo_open ? v > lo : v >= lo) || !(v <= hi)) {
        error(n.source(), key,
              format_number(v) + " is out of range " + (lo_open ? "(" : "[") + format_number(lo) + ", " +
                  format_number(hi) + "]");
        return;
      }
      out = v;
    };
  }
  handler string_array(std::vector<std::string>& out) {
    return [this, &out](const toml::node& n, const std::string& key) {
      const auto* a = n.as_array();
      if (a == nullptr) {
        wrong_type(n, key, "an array of strings");
        return;
      }
      out.clear();
      for (const auto& e : *a) {
        if (const auto* s = e.as_string()) {
          out.push_back(s->get());
        } else {
          wrong_type(e, key, "an array of strings");
        }
      }
    };
  }

  bool read_number(const toml::node& n, const std::string& key, double& v) {
    if (const auto* f = n.as_floating_point()) {
      v = f->get();
    } else if (const auto* i = n.as_integer()) {
      v = static_cast<double>(i->get());
    } else {
      wrong_type(n, key, "a number");
      return false;
    }
    return true;
  }

  void wrong_type(const toml::node& n, const std::string& key, const char* expected) {
    error(n.source(), key, std::string("must be ") + expected + ", not " + type_name(n.type()));
  }

  static std::string format_number(double v) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
  }

 private:
  static const char* type_name(toml::node_type t) noexcept {
    switch (t) {
      case toml::node_type::table:
        return "a table";
      case toml::node_type::array:
        return "an array";
      case toml::node_type::string:
        return "a string";
      case toml::node_type::integer:
        return "an integer";
      case toml::node_type::floating_point:
        return "a float";
      case toml::node_type::boolean:
        return "a boolean";
      case toml::node_type::none:
      default:
        return "a date or time";
    }
  }

  std::string source_;
  std::vector<std::pair<std::pair<toml::source_index, toml::source_index>, std::string>> errors_;
};

// An array of probabilities: in (0, 1), or in [0, 1] when `closed` (a sketch answers the min and max).
inline config_reader::handler probabilities(config_reader& r, std::vector<double>& out, bool closed) {
  return [&r, &out, closed](const toml::node& n, const std::string& key) {
    const auto* a = n.as_array();
    if (a == nullptr) {
      r.wrong_type(n, key, "an array of probabilities");
      return;
    }
    out.clear();
    for (const auto& e : *a) {
      double p = 0.0;
      if (!r.read_number(e, key, p)) {
        continue;
      }
      if (closed ? !(p >= 0.0 && p <= 1.0) : !(p > 0.0 && p < 1.0)) {
        r.error(e.source(), key,
                config_reader::format_number(p) + " is out of range " + (closed ? "[0, 1]" : "(0, 1)"));
        continue;
      }
      out.push_back(p);
    }
  };
}

inline void read_pipeline(config_reader& r, const toml::table& t, const std::string& prefix,
                          pipeline_spec& s) {
  using H = config_reader::handler;
  constexpr auto cap = static_cast<std::int64_t>(pipeline_window_capacity);
  const std::map<std::string, H> handlers = {
      {"match", r.string(s.match)},
      {"stats",
       [&r, &s](const toml::node& n, const std::string& key) {
         const auto* a = n.as_array();
         if (a == nullptr) {
           r.wrong_type(n, key, "an array of statistic names");
           return;
         }
         s.cumulative = {};
         const std::pair<const char*, bool cumulative_spec::*> names[] = {
             {"count", &cumulative_spec::count},   {"mean", &cumulative_spec::mean},
             {"stddev", &cumulative_spec::stddev}, {"variance", &cumulative_spec::variance},
             {"min", &cumulative_spec::min},       {"max", &cumulative_spec::max}};
         for (const auto& e : *a) {
           const auto* str = e.as_string();
           if (str == nullptr) {
             r.wrong_type(e, key, "an array of statistic names");
             continue;
           }
           bool found = false;
           for (const auto& [name, member] : names) {
             if (str->get() == name) {
               s.cumulative.*member = found = true;
             }
           }
           if (!found) {
             r.error(e.source(), key,
                     "unknown statistic \"" + str->get() + "\" (count, mean, stddev, variance, min, max)");
           }
         }
       }},
      {"sma", r.integer(s.sma, 0, cap)},
      {"rolling_variance", r.integer(s.rolling_variance, 0, cap)},
      {"rolling_extrema", r.integer(s.rolling_extrema, 0, cap)},
      {"ema_span", r.number(s.ema_span, 1.0, 1e12)},
      {"ema_halflife", r.number(s.ema_halflife, 0.0, 1e12, true)},
      {"quantiles", probabilities(r, s.quantiles, false)},
      {"sketch_quantiles", probabilities(r, s.sketch_quantiles, true)},
      {"sketch_accuracy", r.number(s.sketch_accuracy, 0.0, 1.0, true)},
      {"detector", r.boolean(s.detector.enabled)},
      {"detector_threshold", r.number(s.detector.options.threshold, 0.0, 1e6, true)},
      {"detector_side",
       [&r, &s](const toml::node& n, const std::string& key) {
         const auto* str = n.as_string();
         if (str == nullptr) {
           r.wrong_type(n, key, "\"both\", \"upper\" or \"lower\"");
         } else if (str->get() == "both" || str->get() == "upper" || str->get() == "lower") {
           s.detector.options.side = str->get() == "both"    ? zscore_side::both
                                     : str->get() == "upper" ? zscore_side::upper
                                                             : zscore_side::lower;
         } else {
           r.error(n.source(), key, "\"" + str->get() + "\" is not one of \"both\", \"upper\", \"lower\"");
         }
       }},
      {"detector_warmup", r.integer(s.detector.options.warmup, 2, 1000000)},
      {"detector_min_stddev", r.number(s.detector.options.min_stddev, 0.0, 1e300)},
      {"detector_period",
       [&r, &s](const toml::node& n, const std::string& key) {
         // An integer: samples per cycle (0: no seasonal stage). A string: "auto" (one day) or a
         // cycle such as "1d", "12h", "7d" whose period the detector learns from the samples' times.
         auto& z = s.detector.seasonal;
         if (const auto* i = n.as_integer()) {
           const std::int64_t v = i->get();
           if (v < 0 || v > (std::int64_t{1} << 32)) {
             r.error(n.source(), key, std::to_string(v) + " is out of range 0 … 4294967296");
             return;
           }
           z.period = static_cast<std::size_t>(v);
           z.cycle = v == 0 ? 0.0 : seasonal_options{}.cycle;
         } else if (const auto* str = n.as_string()) {
           const double cycle = detail::parse_cycle(str->get());
           if (!(cycle > 0.0)) {
             r.error(n.source(), key,
                     "\"" + str->get() +
                         "\" is not \"auto\" or a cycle of 1 … 3660 days (an integer with s, m, h, d or w: "
                         "\"1d\", "
                         "\"12h\", \"7d\")");
             return;
           }
           z.period = 0;
           z.cycle = cycle;
         } else {
           r.wrong_type(n, key,
                        "an integer (samples per cycle) or a string (\"auto\", \"1d\", \"12h\", ...)");
         }
       }},
      {"detector_slot_alpha", r.number(s.detector.seasonal.slot_alpha, 0.0, 1.0, true)},
      {"detector_use_ratio", r.number(s.detector.seasonal.use_ratio, 0.0, 1e6)},
  };
  r.table(t, prefix, handlers);
  // What the per-key checks cannot see: combinations (both EMA parameters, duplicate quantiles),
  // reported at the key check_pipeline_spec names ("key: reason"), else at the table.
  if (const std::string e = check_pipeline_spec(s); !e.empty()) {
    const std::string key = e.substr(0, e.find(':'));
    const toml::node* at =
        key == "ema_span" && t.contains("ema_halflife") ? t.get("ema_halflife") : t.get(key);
    r.error(at != nullptr ? at->source() : t.source(), prefix + "." + key,
            e.substr(std::min(e.size(), key.size() + 2)));
  }
}

}  // namespace detail

// Reads a configuration from TOML text; `source` names it in errors (the file name). Throws
// config_error listing every problem.
[[nodiscard]] inline daemon_config parse_config(std::string_view text, const std::string& source = "config") {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw config_error({source + ":" + std::to_string(b.line) + ":" + std::to_string(b.column) +
                        ": TOML syntax: " + std::string(e.description())});
  }
  daemon_config c;
  detail::config_reader r(source);
  using H = detail::config_reader::handler;
  auto section = [&r](const std::map<std::string, H>& handlers) -> H {
    return [&r, handlers](const toml::node& n, const std::string& key) {
      if (const auto* t = n.as_table()) {
        r.table(*t, key, handlers);
      } else {
        r.wrong_type(n, key, "a table");
      }
    };
  };
  constexpr auto big = static_cast<std::int64_t>(std::uint32_t(1) << 31);
  auto& sv = c.server;
  const std::map<std::string, H> top = {
      {"server", section({
                     {"bind", r.string(sv.bind)},
                     {"port", r.integer(sv.port, 0, 65535)},
                     {"document_root", r.string(sv.document_root)},
                     {"max_connections", r.integer(sv.max_connections, 1, 1000000)},
                     {"max_streams", r.integer(sv.max_streams, 1, 100000000)},
                     {"max_message_size", r.integer(sv.max_message_size, 64, big)},
                     {"max_queued_bytes", r.integer(sv.max_queued_bytes, 1024, big)},
                     {"max_messages_per_second", r.number(sv.max_messages_per_second, 0.0, 1e9)},
                     {"snapshot_interval_ms", r.integer(sv.snapshot_interval_ms, 1, 3600000)},
                     {"shutdown_timeout_ms", r.integer(sv.shutdown_timeout_ms, 0, 600000)},
                     {"allowed_origins", r.string_array(sv.allowed_origins)},
                     {"max_connections_per_address", r.integer(sv.max_connections_per_address, 0, 1000000)},
                     {"idle_timeout_ms", r.integer(sv.idle_timeout_ms, 0, 86400000)},
                     {"same_origin", r.boolean(sv.same_origin)},
                     {"query_budget_per_second", r.number(sv.query_budget_per_second, 0.0, 1e9)},
                     {"max_list_streams", r.integer(sv.max_list_streams, 1, 100000000)},
                     {"io_threads", r.integer(sv.io_threads, 1, 64)},
                 })},
      {"auth", section({{"producer_token", r.string(c.auth.producer_token)},
                        {"anonymous_subscribe",
                         [&r, &c](const toml::node& n, const std::string& key) {
                           bool b = false;
                           r.boolean(b)(n, key);
                           if (n.as_boolean() != nullptr) {
                             c.auth.anonymous_subscribe = b;
                           }
                         }}})},
      {"jwt", section({
                  {"algorithm",
                   [&r, &c](const toml::node& n, const std::string& key) {
                     r.string(c.jwt.algorithm)(n, key);
                     if (!c.jwt.algorithm.empty() && !detail::is_jwt_algorithm(c.jwt.algorithm)) {
                       r.error(n.source(), key,
                               "\"" + c.jwt.algorithm + "\" is not one of HS256, HS384, HS512, RS256, RS384, "
                               "RS512, ES256, ES384, ES512");
                     }
                   }},
                  {"key_file", r.string(c.jwt.key_file)},
                  {"previous_key_file", r.string(c.jwt.previous_key_file)},
                  {"previous_key_until",
                   [&r, &c](const toml::node& n, const std::string& key) {
                     if (const auto* i = n.as_integer()) {
                       c.jwt.previous_key_until = i->get();
                     } else if (const auto* dt = n.as_date_time(); dt != nullptr && dt->get().offset) {
                       c.jwt.previous_key_until = detail::unix_seconds(dt->get());
                     } else {
                       r.wrong_type(n, key, "Unix seconds or an offset date-time (2027-01-31T00:00:00Z)");
                     }
                   }},
                  {"issuer", r.string(c.jwt.issuer)},
                  {"audience", r.string(c.jwt.audience)},
                  {"leeway_s", r.integer(c.jwt.leeway_s, 0, 3600)},
                  {"rights_claim", r.string(c.jwt.rights_claim)},
              })},
      {"tls", section({{"cert", r.string(c.tls.cert)},
                       {"key", r.string(c.tls.key)},
                       {"client_ca", r.string(c.tls.client_ca)}})},
      {"state", section({{"dir", r.string(c.state.dir)},
                         {"checkpoint_interval_ms", r.integer(c.state.checkpoint_interval_ms, 0, 86400000)}})},
      {"redis", section({{"url", r.string(c.redis.url)},
                         {"lease_ttl_ms", r.integer(c.redis.lease_ttl_ms, 100, 600000)}})},
      {"log", section({{"level",
                        [&r, &c](const toml::node& n, const std::string& key) {
                          const auto* s = n.as_string();
                          if (s == nullptr) {
                            r.wrong_type(n, key, "a string");
                            return;
                          }
                          for (const log_level l :
                               {log_level::error, log_level::warn, log_level::info, log_level::debug}) {
                            if (s->get() == to_string(l)) {
                              c.log.level = l;
                              return;
                            }
                          }
                          r.error(n.source(), key,
                                  "\"" + s->get() + "\" is not one of \"error\", \"warn\", \"info\", \"debug\"");
                        }}})},
      {"pipeline",
       [&r, &c](const toml::node& n, const std::string& key) {
         const auto* a = n.as_array();
         if (a == nullptr || !a->is_array_of_tables()) {
           r.wrong_type(n, key, "an array of tables ([[pipeline]])");
           return;
         }
         for (std::size_t i = 0; i < a->size(); ++i) {
           c.pipelines.emplace_back();
           detail::read_pipeline(r, *a->get(i)->as_table(), key + "[" + std::to_string(i) + "]",
                                 c.pipelines.back());
         }
       }},
  };
  r.table(root, "", top);
  if (const toml::node* j = root.get("jwt"); j != nullptr && j->as_table() != nullptr) {
    if (!c.jwt.key_file.empty() && c.jwt.algorithm.empty()) {
      r.error(j->source(), "jwt.algorithm",
              "required with jwt.key_file (the algorithm is never read from tokens)");
    }
    if (c.jwt.key_file.empty() && (!c.jwt.algorithm.empty() || !c.jwt.previous_key_file.empty())) {
      r.error(j->source(), "jwt.key_file", "required when [jwt] is configured");
    }
    if (c.jwt.rights_claim.empty()) {
      r.error(j->source(), "jwt.rights_claim", "must not be empty");
    }
  }
  if (auto errors = r.errors(); !errors.empty()) {
    throw config_error(std::move(errors));
  }
  return c;
}

// Reads the file at `path` (parse_config); an unreadable file is a config_error too.
[[nodiscard]] inline daemon_config load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw config_error({path + ": cannot read the config file"});
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), path);
}

// The contents of a key file: a PEM as it is; a shared secret without its final newline (what
// `echo secret > file` adds). Throws config_error.
[[nodiscard]] inline std::string read_key_file(const char* key, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw config_error({std::string(key) + ": cannot read \"" + path + "\""});
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::string k = text.str();
  if (k.find("-----BEGIN") == std::string::npos) {
    if (!k.empty() && k.back() == '\n') {
      k.pop_back();
    }
    if (!k.empty() && k.back() == '\r') {
      k.pop_back();
    }
  }
  return k;
}

#if defined(STREAMSTATS_WEBSOCKET_TLS)
// The verifier options of a [jwt] section, its key files read. Throws config_error.
[[nodiscard]] inline jwt_options load_jwt_options(const jwt_section& j) {
  jwt_options o;
  if (!parse_jwt_algorithm(j.algorithm, o.algorithm)) {
    throw config_error({"jwt.algorithm: \"" + j.algorithm + "\" is not a supported algorithm"});
  }
  o.key = read_key_file("jwt.key_file", j.key_file);
  if (!j.previous_key_file.empty()) {
    o.previous_key = read_key_file("jwt.previous_key_file", j.previous_key_file);
    o.previous_key_until = j.previous_key_until;
  }
  o.issuer = j.issuer;
  o.audience = j.audience;
  o.leeway = std::chrono::seconds(j.leeway_s);
  o.rights_claim = j.rights_claim;
  return o;
}
#endif

// The server_options this configuration gives (make_pipeline from the [[pipeline]] specs; the
// JWT key files are read, so it throws config_error when one cannot be).
[[nodiscard]] inline server_options to_server_options(const daemon_config& c) {
  server_options o;
  o.address = c.server.bind;
  o.port = c.server.port;
  o.document_root = c.server.document_root;
  o.max_connections = c.server.max_connections;
  o.max_streams = c.server.max_streams;
  o.max_message_size = c.server.max_message_size;
  o.max_queued_bytes = c.server.max_queued_bytes;
  o.max_messages_per_second = c.server.max_messages_per_second;
  o.snapshot_interval = std::chrono::milliseconds(c.server.snapshot_interval_ms);
  o.shutdown_timeout = std::chrono::milliseconds(c.server.shutdown_timeout_ms);
  o.allowed_origins = c.server.allowed_origins;
  o.max_connections_per_address = c.server.max_connections_per_address;
  o.idle_timeout = std::chrono::milliseconds(c.server.idle_timeout_ms);
  o.same_origin = c.server.same_origin;
  o.query_budget_per_second = c.server.query_budget_per_second;
  o.max_list_streams = c.server.max_list_streams;
  o.io_threads = c.server.io_threads;
  o.producer_token = c.auth.producer_token;
  o.anonymous_subscribe = c.auth.anonymous_subscribe.value_or(c.jwt.key_file.empty());
#if defined(STREAMSTATS_WEBSOCKET_TLS)
  if (!c.jwt.key_file.empty()) {
    o.jwt = load_jwt_options(c.jwt);
  }
  o.tls = tls_options{c.tls.cert, c.tls.key, c.tls.client_ca};
#endif
  o.make_pipeline = spec_pipeline_factory(c.pipelines);
  o.state_dir = c.state.dir;
  o.checkpoint_interval = std::chrono::milliseconds(c.state.checkpoint_interval_ms);
  o.redis.url = c.redis.url;
  o.redis.lease_ttl = std::chrono::milliseconds(c.redis.lease_ttl_ms);
  return o;
}

namespace detail {

inline std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (u < 0x20 || u == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned>(u));
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

// detector_period as the config reads it back: samples per cycle, 0 (off), "auto" or a cycle.
inline std::string format_detector_period(const seasonal_options& z) {
  if (z.period > 0 || z.cycle == 0.0) {
    return std::to_string(z.period);
  }
  if (z.cycle == seasonal_options{}.cycle) {
    return "\"auto\"";
  }
  for (const auto& [unit, name] : {std::pair{7 * 86400.0, 'w'}, std::pair{86400.0, 'd'},
                                   std::pair{3600.0, 'h'}, std::pair{60.0, 'm'}, std::pair{1.0, 's'}}) {
    const double n = z.cycle / unit;
    if (n == std::floor(n)) {
      return "\"" + std::to_string(static_cast<std::uint64_t>(n)) + name + "\"";
    }
  }
  // A cycle set from C++ that is no whole number of seconds: the nearest one the config can hold.
  return "\"" + std::to_string(static_cast<std::uint64_t>(std::llround(z.cycle))) + "s\"";
}

// Shortest decimal that reads back to the same double, always a TOML float (has '.' or 'e').
inline std::string toml_float(double v) {
  char buf[40];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (std::strtod(buf, nullptr) == v) {
      break;
    }
  }
  std::string s = buf;
  if (s.find_first_of(".en") == std::string::npos) {
    s += ".0";
  }
  return s;
}

inline std::string toml_string_array(const std::vector<std::string>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) {
    out += (i ? ", " : "") + toml_string(v[i]);
  }
  return out + "]";
}

}  // namespace detail

// The configuration as a TOML document that parse_config reads back to the same values: every
// key, defaults included (what --check-config prints).
[[nodiscard]] inline std::string to_toml(const daemon_config& c) {
  using detail::toml_float;
  using detail::toml_string;
  std::ostringstream o;
  const auto& s = c.server;
  o << "[server]\n"
    << "bind = " << toml_string(s.bind) << "\n"
    << "port = " << s.port << "\n"
    << "document_root = " << toml_string(s.document_root) << "\n"
    << "max_connections = " << s.max_connections << "\n"
    << "max_streams = " << s.max_streams << "\n"
    << "max_message_size = " << s.max_message_size << "\n"
    << "max_queued_bytes = " << s.max_queued_bytes << "\n"
    << "max_messages_per_second = " << toml_float(s.max_messages_per_second) << "\n"
    << "snapshot_interval_ms = " << s.snapshot_interval_ms << "\n"
    << "shutdown_timeout_ms = " << s.shutdown_timeout_ms << "\n"
    << "allowed_origins = " << detail::toml_string_array(s.allowed_origins) << "\n"
    << "max_connections_per_address = " << s.max_connections_per_address << "\n"
    << "idle_timeout_ms = " << s.idle_timeout_ms << "\n"
    << "same_origin = " << (s.same_origin ? "true" : "false") << "\n"
    << "query_budget_per_second = " << toml_float(s.query_budget_per_second) << "\n"
    << "max_list_streams = " << s.max_list_streams << "\n"
    << "io_threads = " << s.io_threads << "\n\n"
    << "[auth]\nproducer_token = " << toml_string(c.auth.producer_token) << "\n";
  if (c.auth.anonymous_subscribe) {
    o << "anonymous_subscribe = " << (*c.auth.anonymous_subscribe ? "true" : "false") << "\n";
  }
  o << "\n[jwt]\n"
    << "algorithm = " << toml_string(c.jwt.algorithm) << "\n"
    << "key_file = " << toml_string(c.jwt.key_file) << "\n"
    << "previous_key_file = " << toml_string(c.jwt.previous_key_file) << "\n"
    << "previous_key_until = " << c.jwt.previous_key_until << "\n"
    << "issuer = " << toml_string(c.jwt.issuer) << "\n"
    << "audience = " << toml_string(c.jwt.audience) << "\n"
    << "leeway_s = " << c.jwt.leeway_s << "\n"
    << "rights_claim = " << toml_string(c.jwt.rights_claim) << "\n\n"
    << "[tls]\ncert = " << toml_string(c.tls.cert) << "\nkey = " << toml_string(c.tls.key)
    << "\nclient_ca = " << toml_string(c.tls.client_ca) << "\n\n"
    << "[state]\ndir = " << toml_string(c.state.dir) << "\n"
    << "checkpoint_interval_ms = " << c.state.checkpoint_interval_ms << "\n\n"
    << "[redis]\nurl = " << toml_string(c.redis.url) << "\nlease_ttl_ms = " << c.redis.lease_ttl_ms << "\n\n"
    << "[log]\nlevel = " << toml_string(to_string(c.log.level)) << "\n";
  for (const auto& p : c.pipelines) {
    std::vector<std::string> stats;
    const auto& cu = p.cumulative;
    for (const auto& [on, name] :
         {std::pair{cu.count, "count"}, std::pair{cu.mean, "mean"}, std::pair{cu.stddev, "stddev"},
          std::pair{cu.variance, "variance"}, std::pair{cu.min, "min"}, std::pair{cu.max, "max"}}) {
      if (on) {
        stats.emplace_back(name);
      }
    }
    o << "\n[[pipeline]]\n"
      << "match = " << toml_string(p.match) << "\n"
      << "stats = " << detail::toml_string_array(stats) << "\n"
      << "sma = " << p.sma << "\n"
      << "rolling_variance = " << p.rolling_variance << "\n"
      << "rolling_extrema = " << p.rolling_extrema << "\n";
    // 0 means "off" but is out of range for the key, so an unused EMA parameter is left out.
    if (p.ema_span > 0.0) {
      o << "ema_span = " << toml_float(p.ema_span) << "\n";
    }
    if (p.ema_halflife > 0.0) {
      o << "ema_halflife = " << toml_float(p.ema_halflife) << "\n";
    }
    o << "quantiles = [";
    for (std::size_t i = 0; i < p.quantiles.size(); ++i) {
      o << (i ? ", " : "") << toml_float(p.quantiles[i]);
    }
    o << "]\n";
    if (!p.sketch_quantiles.empty()) {
      o << "sketch_quantiles = [";
      for (std::size_t i = 0; i < p.sketch_quantiles.size(); ++i) {
        o << (i ? ", " : "") << toml_float(p.sketch_quantiles[i]);
      }
      o << "]\nsketch_accuracy = " << toml_float(p.sketch_accuracy) << "\n";
    }
    const auto& d = p.detector.options;
    o << "detector = " << (p.detector.enabled ? "true" : "false") << "\n"
      << "detector_threshold = " << toml_float(d.threshold) << "\n"
      << "detector_side = " << toml_string(to_string(d.side)) << "\n"
      << "detector_warmup = " << d.warmup << "\n"
      << "detector_min_stddev = " << toml_float(d.min_stddev) << "\n"
      << "detector_period = " << detail::format_detector_period(p.detector.seasonal) << "\n"
      << "detector_slot_alpha = " << toml_float(p.detector.seasonal.slot_alpha) << "\n"
      << "detector_use_ratio = " << toml_float(p.detector.seasonal.use_ratio) << "\n";
  }
  return o.str();
}

// The first syntax problem of a Redis URL, or "" when it is well formed: redis://[user[:password]@]
// host[:port][/db] (rediss:// for TLS; host a name, an IPv4 address or [IPv6]; port 1 … 65535; db a
// number), or unix:///absolute/path.
[[nodiscard]] inline std::string check_redis_url(std::string_view url) {
  constexpr std::string_view unix_scheme = "unix://";
  if (url.substr(0, unix_scheme.size()) == unix_scheme) {
    const auto path = url.substr(unix_scheme.size());
    return (!path.empty() && path.front() == '/')
               ? ""
               : "unix:// needs an absolute socket path (unix:///run/redis.sock)";
  }
  std::string_view rest;
  for (const std::string_view scheme : {std::string_view("redis://"), std::string_view("rediss://")}) {
    if (url.substr(0, scheme.size()) == scheme) {
      rest = url.substr(scheme.size());
    }
  }
  if (rest.data() == nullptr) {
    return "the scheme must be redis://, rediss:// or unix://";
  }
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    rest = rest.substr(at + 1);
  }
  std::string_view db;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  std::string_view host = rest;
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos || close == 1) {
      return "an IPv6 host is written [address]";
    }
    host = rest.substr(1, close - 1);
    const auto after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return "unexpected text after ]";
      }
      port = after.substr(1);
      if (port.empty()) {
        return "empty port";
      }
    }
  } else if (const auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (port.empty()) {
      return "empty port";
    }
    for (const char ch : host) {
      if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' || ch == '_')) {
        return "bad character in the host name";
      }
    }
  }
  if (host.empty()) {
    return "no host";
  }
  auto digits = [](std::string_view s) {
    return !s.empty() && s.size() <= 9 &&
           std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  };
  if (!port.empty() &&
      (!digits(port) || std::stoul(std::string(port)) == 0 || std::stoul(std::string(port)) > 65535)) {
    return "the port must be a number 1 … 65535";
  }
  if (!db.empty() && !digits(db)) {
    return "the database (after /) must be a number";
  }
  return {};
}

// What only the machine can tell: TLS files readable, the state directory writable, the document
// root a directory, the Redis URL well formed; and what the flags may combine with the file
// (io_threads with --redis). One "key: reason" per problem.
[[nodiscard]] inline std::vector<std::string> check_environment(const daemon_config& c) {
  std::vector<std::string> errors;
  auto readable = [&](const char* key, const std::string& path) {
    if (!path.empty() && ::access(path.c_str(), R_OK) != 0) {
      errors.push_back(std::string(key) + ": cannot read \"" + path + "\"");
    }
  };
  if (c.tls.cert.empty() != c.tls.key.empty()) {
    errors.emplace_back(c.tls.cert.empty() ? "tls.cert: tls.key is set without a certificate"
                                           : "tls.key: tls.cert is set without a private key");
  }
  readable("tls.cert", c.tls.cert);
  readable("tls.key", c.tls.key);
  readable("tls.client_ca", c.tls.client_ca);
  if (!c.tls.client_ca.empty() && c.tls.cert.empty()) {
    errors.emplace_back("tls.client_ca: mutual TLS needs tls.cert and tls.key");
  }
  readable("jwt.key_file", c.jwt.key_file);
  readable("jwt.previous_key_file", c.jwt.previous_key_file);
#if defined(STREAMSTATS_WEBSOCKET_TLS)
  // What OpenSSL and libjwt say of the files (a key that does not match its certificate, a PEM
  // that does not parse), so that --check-config catches it before a start or a reload does.
  if (errors.empty() && !c.tls.cert.empty()) {
    try {
      (void)make_tls_context({c.tls.cert, c.tls.key, c.tls.client_ca});
    } catch (const tls_error& e) {
      errors.emplace_back(e.what());
    }
  }
  if (errors.empty() && !c.jwt.key_file.empty()) {
    try {
      (void)jwt_verifier(load_jwt_options(c.jwt));
    } catch (const std::exception& e) {
      errors.emplace_back(std::string("jwt.key_file: ") + e.what());
    }
  }
#endif
  if (!c.state.dir.empty() && ::access(c.state.dir.c_str(), W_OK | X_OK) != 0) {
    errors.push_back("state.dir: \"" + c.state.dir + "\" is not a writable directory");
  }
  if (!c.server.document_root.empty() &&
      ::access((c.server.document_root + "/.").c_str(), R_OK | X_OK) != 0) {
    errors.push_back("server.document_root: \"" + c.server.document_root + "\" is not a readable directory");
  }
  if (!c.redis.url.empty()) {
    if (const std::string e = check_redis_url(c.redis.url); !e.empty()) {
      errors.push_back("redis.url: \"" + c.redis.url + "\": " + e);
    }
    // The broker drives its Redis connections from one io thread and sees every stream
    // (docs/websocket.md, "Threading").
    if (c.server.io_threads > 1) {
      errors.push_back("server.io_threads: " + std::to_string(c.server.io_threads) +
                       " io threads together with redis.url (--redis) is not supported: the Redis broker "
                       "runs on one io thread; set server.io_threads = 1 or leave redis.url empty");
    }
  }
  return errors;
}

// The configured features this build cannot serve yet, named for the operator ("TLS ([tls],
// --tls-cert/--tls-key)"). streamstatsd refuses to start while this is not empty: running without
// what the file asks for (plaintext instead of TLS, no broker) would be a silent
// downgrade.
[[nodiscard]] inline std::vector<std::string> unsupported_features(const daemon_config& c) {
  std::vector<std::string> out;
#if !defined(STREAMSTATS_WEBSOCKET_TLS)
  // A build without OpenSSL and libjwt (streamstats::websocket_tls) serves neither.
  if (!c.tls.cert.empty() || !c.tls.key.empty()) {
    out.emplace_back("TLS ([tls] cert/key, --tls-cert/--tls-key)");
  }
  if (!c.jwt.key_file.empty()) {
    out.emplace_back("JWT access ([jwt])");
  }
#endif
  if (!c.redis.url.empty()) {
    out.emplace_back("Redis scale-out ([redis] url, --redis)");
  }
  return out;
}

}  // namespace streamstats::websocket
