// streamstats::websocket::redis — the Redis broker of a server (server_options::redis, --redis):
// the pieces of redis/*.hpp put behind broker.hpp's interface. docs/scale-out.md has the design.
// SPDX-License-Identifier: MIT
//
//   server_options o;
//   o.redis.url = "redis://127.0.0.1:6379";
//   o.make_broker = streamstats::websocket::redis::factory();
//
// Per node, three connections to Redis (all on the server's io_context):
//   main   appends (the ingest script), the set of streams (SADD / SMEMBERS), alert PUBLISHes
//   owners the leases, XREAD polling and fenced stores of every stream's owner object
//   pubsub the snapshot channel of every known stream, and <prefix>:alerts (every stream's alerts)
// Every node knows every stream: a stream joins the set <prefix>:streams on its first push at any
// node, and nodes read the set every discovery_interval. For each known stream a node runs an
// owner (owner.hpp) that competes for the stream's lease; the holder applies the log to the
// server's local stream (its pipeline, counters and alerts: broker_host::apply), stores the state
// with the id it covers, and publishes it; the others load each published state into their local
// stream (so their snapshots and "list" show it) and forward the published alerts to their
// subscribers. An alert is delivered at most once per node (by its index), so the replay of a new
// owner does not repeat the alerts its predecessor already sent.
#pragma once

#include <streamstats/websocket/broker.hpp>
#include <streamstats/websocket/redis/connection.hpp>
#include <streamstats/websocket/redis/lease.hpp>
#include <streamstats/websocket/redis/owner.hpp>
#include <streamstats/websocket/redis/stream_log.hpp>

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace streamstats::websocket::redis {

namespace detail {
// %XX escapes (a password may hold any byte); throws on a bad escape.
inline std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9')
        return c - '0';
      if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
      if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
      return -1;
    };
    if (i + 2 >= s.size())
      throw std::invalid_argument("redis url: a % escape needs two hex digits");
    const int hi = hex(s[i + 1]);
    const int lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0)
      throw std::invalid_argument("redis url: a % escape needs two hex digits");
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

inline int parse_db(std::string_view s) {
  std::uint64_t v = 0;
  if (!parse_u64(s, v) || v > 1000000)
    throw std::invalid_argument("redis url: the database must be a number (0, 1, 2...)");
  return static_cast<int>(v);
}
}  // namespace detail

// A Redis URL → connection options:
//   redis://[[user]:password@]host[:port][/db]   (redis://:secret@10.0.0.5:6379/2)
//   redis://password@host...                     (no colon: the password alone, as redis-cli reads it)
//   unix:///path/to/redis.sock[?db=N&password=P&user=U]
// User and password may use %XX escapes. rediss:// (TLS) is not supported by this build (throws
// std::invalid_argument, as for every malformed URL).
inline connection_options parse_url(std::string_view url) {
  connection_options o;
  constexpr std::string_view unix_scheme = "unix://";
  constexpr std::string_view redis_scheme = "redis://";
  if (url.substr(0, unix_scheme.size()) == unix_scheme) {
    std::string_view path = url.substr(unix_scheme.size());
    std::string_view query;
    if (const auto q = path.find('?'); q != std::string_view::npos) {
      query = path.substr(q + 1);
      path = path.substr(0, q);
    }
    o.unix_path = std::string(path);
    if (o.unix_path.empty() || o.unix_path.front() != '/')
      throw std::invalid_argument("redis url: unix:// needs an absolute path");
    while (!query.empty()) {
      const auto amp = query.find('&');
      const std::string_view kv = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
      const auto eq = kv.find('=');
      const std::string_view k = kv.substr(0, eq);
      const std::string_view v = eq == std::string_view::npos ? std::string_view{} : kv.substr(eq + 1);
      if (k == "db")
        o.db = detail::parse_db(v);
      else if (k == "password")
        o.password = detail::percent_decode(v);
      else if (k == "user")
        o.username = detail::percent_decode(v);
      else
        throw std::invalid_argument("redis url: unix:// takes ?db=, password= and user= only");
    }
    return o;
  }
  if (url.substr(0, redis_scheme.size()) != redis_scheme)
    throw std::invalid_argument("redis url: only redis:// and unix:// are supported by this build");
  std::string_view rest = url.substr(redis_scheme.size());
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    if (const auto colon = userinfo.find(':'); colon != std::string_view::npos) {
      o.username = detail::percent_decode(userinfo.substr(0, colon));
      o.password = detail::percent_decode(userinfo.substr(colon + 1));
    } else {
      o.password = detail::percent_decode(userinfo);
    }
    if (o.password.empty())
      throw std::invalid_argument("redis url: an empty password");
  }
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    const std::string_view db = rest.substr(slash + 1);
    if (!db.empty())
      o.db = detail::parse_db(db);
    rest = rest.substr(0, slash);
  }
  std::string_view host = rest;
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos)
      throw std::invalid_argument("redis url: bad IPv6 host");
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':')
      port = rest.substr(close + 2);
  } else if (const auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.empty())
    throw std::invalid_argument("redis url: no host");
  o.host = std::string(host);
  if (!port.empty()) {
    std::uint64_t p = 0;
    if (!detail::parse_u64(port, p) || p == 0 || p > 65535)
      throw std::invalid_argument("redis url: bad port");
    o.port = static_cast<int>(p);
  }
  return o;
}

// Pub/Sub channels are shared by every database of a Redis server, keys are not: with a database
// other than 0 the key prefix (and so the channels' names) gains ":db<N>", so that deployments in
// different databases of one server do not hear each other's snapshots and alerts.
inline redis_options with_db_prefix(redis_options o) {
  if (const int db = parse_url(o.url).db; db != 0)
    o.prefix += ":db" + std::to_string(db);
  return o;
}

class server_broker;

// The owner's accumulator: the server's local stream of that name, reached through the broker.
struct stream_acc {
  server_broker* b = nullptr;
  std::string name;
  void push(const double* first, const double* last, double t);  // t: the log entry's (owner.hpp)
};
struct stream_acc_codec {
  static std::string save(const stream_acc& a);
  static std::string load(std::string_view bytes, stream_acc& a);
};

class server_broker final : public broker {
 public:
  server_broker(asio::io_context& io, broker_host& host, redis_options opt)
      : host_(host),
        opt_(with_db_prefix(std::move(opt))),
        main_(io, parse_url(opt_.url)),
        own_(io, parse_url(opt_.url)),
        sub_(io, parse_url(opt_.url)),
        log_(main_, opt_.prefix),
        discovery_(io),
        closing_(io),
        set_key_(opt_.prefix + ":streams"),
        alert_channel_(opt_.prefix + ":alerts") {}
  ~server_broker() override {
    life_.reset();
    streams_.clear();  // owners before their connection
  }

  void start() override {
    // A refused connect (a wrong password, a database out of range) is logged once per cause;
    // /readyz stays 503 (ready() is false) and the connections keep retrying with backoff.
    // (A plain pair, not a structured binding: C++17 lambdas cannot capture those.)
    for (const auto& cw :
         {std::pair<connection*, const char*>{&main_, "main"}, {&own_, "owners'"}, {&sub_, "pubsub"}}) {
      const char* what = cw.second;
      cw.first->on_error([this, what, w = std::weak_ptr<char>(life_)](const std::string& e) {
        if (!w.expired())
          host_.log("error", std::string("redis: the ") + what + " connection is refused: " + e);
      });
    }
    main_.start();
    own_.start();
    sub_.start();
    sub_.subscribe(alert_channel_, [this, w = std::weak_ptr<char>(life_)](std::string_view msg) {
      if (!w.expired())
        on_alert_message(msg);
    });
    discover();
  }

  void stop() override {
    if (stopped_)
      return;
    stopped_ = true;
    discovery_.cancel();
    for (auto& [name, e] : streams_) {
      if (e->own)
        e->own->stop(true);  // releases the lease: a successor need not wait for the TTL
    }
    // The releases are written; then the connections go, so that the io loop can end.
    closing_.expires_after(std::chrono::milliseconds(100));
    closing_.async_wait([this, w = std::weak_ptr<char>(life_)](const std::error_code&) {
      if (w.expired())
        return;
      main_.stop();
      own_.stop();
      sub_.stop();
    });
  }

  void append(std::string_view name, const double* v, std::size_t n, double t, const producer_seq& origin,
              append_done done) override {
    if (name.find_first_of("{}") != std::string_view::npos) {
      asio::post(main_.io(), [done = std::move(done)] {
        append_outcome o;
        o.error = error_code::invalid_stream_name;
        done(o);
      });
      return;
    }
    entry& e = known(name);
    if (!e.registered && main_.ready()) {
      main_.command({"SADD", set_key_, name}, [w = std::weak_ptr<char>(life_), ep = &e](const redisReply* r) {
        if (!w.expired() && r != nullptr && r->type == REDIS_REPLY_INTEGER)
          ep->registered = true;
      });
    }
    log_.append(
        name, v, n,
        [this, w = std::weak_ptr<char>(life_), n, done = std::move(done)](const append_result& r) {
          if (w.expired())
            return;
          append_outcome o;
          o.ok = r.ok;
          if (r.ok) {
            o.duplicate = r.duplicate;
            o.has_first = !r.id.empty();  // an older duplicate's place is no longer kept
            o.first = r.first;
            if (!r.duplicate)
              appended_ += n;
            else
              ++duplicates_;
          } else if (r.out_of_order) {
            o.error = error_code::out_of_order;
            o.expected = r.last_seq + 1;
          } else {
            ++unavailable_;
          }
          done(o);
        },
        origin.producer, origin.seq, t);
  }

  [[nodiscard]] bool ready() const override { return main_.ready() && own_.ready() && sub_.ready(); }

  [[nodiscard]] broker_metrics metrics() const override {
    broker_metrics m;
    m.connected = ready();
    m.appended = appended_;
    m.applied = applied_;
    m.unavailable = unavailable_;
    m.duplicates = duplicates_;
    m.lease_gains = gains_;
    m.lease_losses = losses_;
    m.known_streams = streams_.size();
    for (const auto& [name, e] : streams_) {
      if (e->own && e->own->owning())
        ++m.owned;
    }
    return m;
  }

 private:
  friend struct stream_acc;
  friend struct stream_acc_codec;
  using owner_type = owner<stream_acc, stream_acc_codec>;

  struct entry {
    std::string name;
    bool registered = false;  // in the set of streams
    bool seen = false;        // in the last SMEMBERS reply
    bool has_alert = false;   // last_alert is set
    std::uint64_t last_alert = 0;
    std::uint64_t published = 0;  // published states loaded (fetch_state's reply yields to them)
    std::unique_ptr<owner_type> own;
  };

  // The stream's entry; created (local stream, subscriptions, owner) on first sight.
  entry& known(std::string_view name) {
    const auto it = streams_.find(name);
    if (it != streams_.end())
      return *it->second;
    auto e = std::make_unique<entry>();
    entry& ref = *e;
    ref.name = std::string(name);
    streams_.emplace(ref.name, std::move(e));
    if (!host_.ensure_stream(name)) {
      host_.log("warn", "redis: stream '" + ref.name + "' is not created here (the stream limit is reached)");
      return ref;
    }
    const stream_keys k = stream_keys::of(name, opt_.prefix);
    auto w = std::weak_ptr<char>(life_);
    sub_.subscribe(k.channel, [this, w, ep = &ref](std::string_view msg) {
      if (!w.expired())
        on_snapshot(*ep, msg);
    });
    owner_options oo;
    oo.stream = ref.name;
    oo.prefix = opt_.prefix;
    oo.lease_ttl = opt_.lease_ttl;
    oo.block = std::chrono::milliseconds(0);  // many owners share one connection: poll
    oo.poll = std::chrono::milliseconds(5);
    ref.own = std::make_unique<owner_type>(own_, oo, stream_acc{this, ref.name});
    owner_type* o = ref.own.get();
    o->on_acquired = [this, o, ep = &ref] {
      ++gains_;
      if (o->last_id() == "0-0")
        host_.reset(ep->name);  // nothing stored: start from a fresh pipeline
      host_.log("info",
                "redis: owning stream '" + ep->name + "' from index " + std::to_string(o->next_index()));
    };
    o->on_lost = [this, ep = &ref] {
      ++losses_;
      host_.log("info", "redis: lost the lease of stream '" + ep->name + "'");
    };
    o->on_event = [this, ep = &ref](std::string_view what) {
      host_.log("warn", "redis: stream '" + ep->name + "': " + std::string(what));
    };
    if (!stopped_) {
      o->start();
      fetch_state(ref);
    }
    return ref;
  }

  // The stored state, for a stream this node has just discovered: a quiet stream publishes nothing
  // until its next push, and its snapshot here would say 0 until then. A state published meanwhile
  // is newer (or as new): the stored one is then ignored.
  void fetch_state(entry& e) {
    if (!main_.ready())
      return;
    const std::uint64_t seen = e.published;
    main_.command({"HGET", stream_keys::of(e.name, opt_.prefix).state, "state"},
                  [this, w = std::weak_ptr<char>(life_), ep = &e, seen](const redisReply* r) {
                    if (w.expired() || r == nullptr || r->type != REDIS_REPLY_STRING ||
                        ep->published != seen || (ep->own && ep->own->owning()))
                      return;
                    if (std::string err = host_.load(ep->name, reply_str(r)); !err.empty())
                      host_.log("warn",
                                "redis: stream '" + ep->name + "': its stored state does not load: " + err);
                  });
  }

  void discover() {
    if (stopped_)
      return;
    auto w = std::weak_ptr<char>(life_);
    if (main_.ready()) {
      main_.command({"SMEMBERS", set_key_}, [this, w](const redisReply* r) {
        if (w.expired() || stopped_ || r == nullptr || r->type != REDIS_REPLY_ARRAY)
          return;
        for (auto& [name, e] : streams_)
          e->seen = false;
        for (std::size_t i = 0; i < r->elements; ++i) {
          const std::string_view name = reply_str(r->element[i]);
          if (!name.empty() && name.find_first_of("{}") == std::string_view::npos)
            known(name).seen = true;
        }
        // Not in the set (a Redis restarted without persistence): added again by the next push.
        for (auto& [name, e] : streams_)
          e->registered = e->seen;
      });
    }
    discovery_.expires_after(opt_.discovery_interval);
    discovery_.async_wait([this, w](const std::error_code& ec) {
      if (!ec && !w.expired())
        discover();
    });
  }

  // A state the owner stored: the local stream becomes it (unless this node is the owner, whose
  // local stream is already ahead of what it published).
  void on_snapshot(entry& e, std::string_view msg) {
    if (e.own && e.own->owning())
      return;
    snapshot s;
    if (!parse_snapshot(msg, s))
      return;
    ++e.published;
    if (std::string err = host_.load(e.name, s.state); !err.empty())
      host_.log("warn", "redis: stream '" + e.name + "': a published state does not load: " + err);
  }

  // "<stream>\n<index> <value> <z> <score> <t>" from the owner. A stream not known yet is created
  // here, so that an alert found before the discovery of its stream reaches the "*" subscribers.
  void on_alert_message(std::string_view msg) {
    const auto nl = msg.find('\n');
    if (nl == std::string_view::npos || nl == 0)
      return;
    const std::string_view name = msg.substr(0, nl);
    if (name.find_first_of("{}") != std::string_view::npos)
      return;
    entry& e = known(name);
    if (e.own && e.own->owning())
      return;  // delivered here when applied
    const std::string text(msg.substr(nl + 1));
    broker_alert a;
    char* end = nullptr;
    a.index = std::strtoull(text.c_str(), &end, 10);
    a.value = std::strtod(end, &end);
    a.z = std::strtod(end, &end);
    a.score = std::strtod(end, &end);
    a.t = std::strtod(end, &end);
    deliver(e, a);
  }

  void deliver(entry& e, const broker_alert& a) {
    if (e.has_alert && a.index <= e.last_alert)
      return;  // already sent (a new owner replaying what its predecessor applied)
    e.has_alert = true;
    e.last_alert = a.index;
    host_.deliver_alert(e.name, a);
  }

  // The owner's apply step (stream_acc::push).
  void apply(const std::string& name, const double* v, std::size_t n, double t) {
    alerts_.clear();
    host_.apply(name, v, n, t, alerts_);
    applied_ += n;
    if (alerts_.empty())
      return;
    const auto it = streams_.find(name);
    if (it == streams_.end())
      return;
    entry& e = *it->second;
    for (const broker_alert& a : alerts_) {
      char buf[160];
      const int len = std::snprintf(buf, sizeof buf, "%llu %.17g %.17g %.17g %.17g",
                                    static_cast<unsigned long long>(a.index), a.value, a.z, a.score, a.t);
      std::string payload = e.name;
      payload += '\n';
      payload.append(buf, static_cast<std::size_t>(len));
      main_.command({"PUBLISH", alert_channel_, payload}, nullptr);
      deliver(e, a);
    }
  }

  broker_host& host_;
  redis_options opt_;
  connection main_;
  connection own_;
  connection sub_;
  stream_log log_;
  asio::steady_timer discovery_;
  asio::steady_timer closing_;
  std::string set_key_;
  std::string alert_channel_;  // one channel for every stream's alerts (rare; no discovery gap)
  std::map<std::string, std::unique_ptr<entry>, std::less<>> streams_;
  std::vector<broker_alert> alerts_;
  bool stopped_ = false;
  std::uint64_t appended_ = 0, applied_ = 0, unavailable_ = 0, duplicates_ = 0, gains_ = 0, losses_ = 0;
  std::shared_ptr<char> life_ = std::make_shared<char>();
};

inline void stream_acc::push(const double* first, const double* last, double t) {
  b->apply(name, first, static_cast<std::size_t>(last - first), t);
}
inline std::string stream_acc_codec::save(const stream_acc& a) {
  std::string out;
  if (!a.b->host_.save(a.name, out))
    a.b->host_.log("error", "redis: stream '" + a.name + "': its pipeline cannot save its state");
  return out;
}
inline std::string stream_acc_codec::load(std::string_view bytes, stream_acc& a) {
  return a.b->host_.load(a.name, bytes);
}

// For server_options::make_broker.
inline broker_factory factory() {
  return [](asio::io_context& io, broker_host& host, const redis_options& o) -> std::unique_ptr<broker> {
    return std::make_unique<server_broker>(io, host, o);
  };
}

}  // namespace streamstats::websocket::redis
