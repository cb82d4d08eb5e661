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

// [auth]: the bearer token producers must present ("" = anyone may push).
struct auth_section {
  std::string producer_token;
};

// [tls]: certificate and private key (PEM). Not served by this build yet (issue 13).
struct tls_section {
  std::string cert;
  std::string key;
};

// [state]: checkpoint directory. Not written by this build yet (issue 11).
struct state_section {
  std::string dir;
};

// [redis]: the broker between nodes. Not used by this build yet (issue 14).
struct redis_section {
  std::string url;
};

// [log]: streamstatsd's own messages on stderr at or above this level.
struct log_section {
  log_level level = log_level::info;
};

struct daemon_config {
  server_section server;
  auth_section auth;
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
      {"quantiles",
       [&r, &s](const toml::node& n, const std::string& key) {
         const auto* a = n.as_array();
         if (a == nullptr) {
           r.wrong_type(n, key, "an array of probabilities");
           return;
         }
         s.quantiles.clear();
         for (const auto& e : *a) {
           double p = 0.0;
           if (!r.read_number(e, key, p)) {
             continue;
           }
           if (!(p > 0.0 && p < 1.0)) {
             r.error(e.source(), key, config_reader::format_number(p) + " is out of range (0, 1)");
             continue;
           }
           s.quantiles.push_back(p);
         }
       }},
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
      {"auth", section({{"producer_token", r.string(c.auth.producer_token)}})},
      {"tls", section({{"cert", r.string(c.tls.cert)}, {"key", r.string(c.tls.key)}})},
      {"state", section({{"dir", r.string(c.state.dir)}})},
      {"redis", section({{"url", r.string(c.redis.url)}})},
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

// The server_options this configuration gives (make_pipeline from the [[pipeline]] specs).
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
  o.make_pipeline = spec_pipeline_factory(c.pipelines);
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
    << "[auth]\nproducer_token = " << toml_string(c.auth.producer_token) << "\n\n"
    << "[tls]\ncert = " << toml_string(c.tls.cert) << "\nkey = " << toml_string(c.tls.key) << "\n\n"
    << "[state]\ndir = " << toml_string(c.state.dir) << "\n\n"
    << "[redis]\nurl = " << toml_string(c.redis.url) << "\n\n"
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
    const auto& d = p.detector.options;
    o << "]\n"
      << "detector = " << (p.detector.enabled ? "true" : "false") << "\n"
      << "detector_threshold = " << toml_float(d.threshold) << "\n"
      << "detector_side = " << toml_string(to_string(d.side)) << "\n"
      << "detector_warmup = " << d.warmup << "\n"
      << "detector_min_stddev = " << toml_float(d.min_stddev) << "\n";
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
// root a directory, the Redis URL well formed. One "key: reason" per problem.
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
  }
  return errors;
}

// The configured features this build cannot serve yet, named for the operator ("TLS ([tls],
// --tls-cert/--tls-key)"). streamstatsd refuses to start while this is not empty: running without
// what the file asks for (plaintext instead of TLS, no checkpoints, no broker) would be a silent
// downgrade.
[[nodiscard]] inline std::vector<std::string> unsupported_features(const daemon_config& c) {
  std::vector<std::string> out;
  if (!c.tls.cert.empty() || !c.tls.key.empty()) {
    out.emplace_back("TLS ([tls] cert/key, --tls-cert/--tls-key)");
  }
  if (!c.state.dir.empty()) {
    out.emplace_back("state checkpoints ([state] dir, --state-dir)");
  }
  if (!c.redis.url.empty()) {
    out.emplace_back("Redis scale-out ([redis] url, --redis)");
  }
  return out;
}

}  // namespace streamstats::websocket
