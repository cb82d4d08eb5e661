// streamstats::websocket core — the server's parts put together over one transport: the io threads,
// the handshake and connection events, and the actions dispatch.hpp routes each message to.
// SPDX-License-Identifier: MIT
//
// The parts, in the order a message flows through them:
//   transport.hpp    the bytes on the wire: websocketpp's config (Config below; plain TCP today, TLS
//                    a second config over the same code) and the accept loop
//   access.hpp       Origin and producer token, decided at the handshake
//   connections.hpp  room for the handshake (max_connections, per address), pongs in bound
//   dispatch.hpp     protocol.hpp's decoded message → one action; rate limits; the replies
//   registry.hpp     streams by name, their pipelines and counters
//   fanout.hpp       subscriptions, snapshots, alerts, back-pressure
//   http.hpp         plain GETs: files, /metrics, /healthz, /readyz
// server.hpp is the public face (server_options in options.hpp); server_core<Config> is what it
// runs, behind server_engine so that the transport is chosen at run time.
//
// Threading: server_options::io_threads io threads, each running one shard: an io_context, a
// websocketpp endpoint, the connections accepted onto it (round robin), and the streams whose name
// hashes to it, each with its fan-out. A shard's state is touched by its own thread only, so
// nothing on the hot path takes a lock. A connection's request about a stream of another shard goes
// there through a handoff (handoff.hpp, FIFO per pair of shards: one producer's samples stay in
// order), and what that stream sends to the connection (snapshots, alerts, acks, errors) comes back
// the same way, to be written by the connection's own thread. With io_threads = 1 there is one
// shard and no handoff. push(), stop() and reconfigure() post; stats() reads relaxed atomics.
//
// What is decided about a connection (its origin, token or JWT rights, an expired token) is decided
// on its own thread, before a request is handed to another shard: a shard that applies a request
// from elsewhere trusts the connection's thread to have checked it. Checkpoints visit the shards in
// turn, each serialising its own streams on its own thread (checkpoint_runner.hpp); a restore puts
// each stream into the shard its name hashes to. /metrics sums what each shard counts, read on its
// thread. The Redis broker (broker.hpp) runs on shard 0 and is refused with io_threads > 1.
#pragma once

#include <streamstats/websocket/access.hpp>
#include <streamstats/websocket/auth.hpp>
#include <streamstats/websocket/broker.hpp>
#include <streamstats/websocket/checkpoint_runner.hpp>
#include <streamstats/websocket/connections.hpp>
#include <streamstats/websocket/dispatch.hpp>
#include <streamstats/websocket/fanout.hpp>
#include <streamstats/websocket/handoff.hpp>
#include <streamstats/websocket/http.hpp>
#include <streamstats/websocket/metrics.hpp>
#include <streamstats/websocket/options.hpp>
#include <streamstats/websocket/pipeline.hpp>
#include <streamstats/websocket/pipeline_state.hpp>
#include <streamstats/websocket/protocol.hpp>
#include <streamstats/websocket/registry.hpp>
#include <streamstats/websocket/transport.hpp>
#if defined(STREAMSTATS_WEBSOCKET_TLS)
#include <streamstats/websocket/tls.hpp>
#endif

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace streamstats::websocket::detail {

// What server forwards to: one implementation per transport config.
class server_engine {
 public:
  server_engine() = default;
  server_engine(const server_engine&) = delete;
  server_engine& operator=(const server_engine&) = delete;
  server_engine(server_engine&&) = delete;
  server_engine& operator=(server_engine&&) = delete;
  virtual ~server_engine() = default;

  virtual void listen() = 0;
  virtual void run() = 0;
  virtual void start() = 0;
  virtual void stop() = 0;
  virtual void stop_on_signals(std::initializer_list<int> signals) = 0;
  virtual void join() = 0;
  virtual void reconfigure(std::function<void(server_options&)> change) = 0;
  [[nodiscard]] virtual std::uint16_t port() const noexcept = 0;
  [[nodiscard]] virtual server_stats stats() const noexcept = 0;
  [[nodiscard]] virtual const server_options& options() const noexcept = 0;
  virtual void push(std::string stream, std::vector<double> values, double t) = 0;
  virtual void push(std::string stream, double value, double t) = 0;
#if defined(STREAMSTATS_WEBSOCKET_TLS)
  // Reads the certificate files again (any thread); throws tls_error and keeps the running
  // context when they cannot be used. Open connections keep the context they started with.
  virtual void reload_tls(tls_options next) = 0;
#endif
};

// Whether `Config` is the TLS transport (tls.hpp).
template <typename Config>
inline constexpr bool is_tls_config =
#if defined(STREAMSTATS_WEBSOCKET_TLS)
    std::is_same_v<Config, tls_config>;
#else
    false;
#endif

// The WebSocket close code of a connection whose JWT expired (RFC 6455 §7.4.2: 4000-4999 are
// for applications; docs/protocol.md).
inline constexpr std::uint16_t close_token_expired = 4001;

// A connection as every shard sees it. Written by its home shard; other shards read the atomics.
template <typename Config>
struct peer : std::enable_shared_from_this<peer<Config>> {
  typename websocketpp::server<Config>::connection_ptr con;  // set before the peer is shared
  std::size_t home = 0;                                      // the shard the connection lives on
  std::atomic<std::uint64_t> dropped{0};                     // dropped for back-pressure, all shards
  std::atomic<std::size_t> queued{0};     // the send queue as its home last read it (bytes)
  std::atomic<std::size_t> in_flight{0};  // handed to the home by other shards, not yet queued
};

// How a shard's fan-out reaches a connection: directly when the connection lives on this shard,
// through the home's handoff otherwise (and then the send queue it sees is the home's last reading
// plus what is on its way, so back-pressure holds across threads).
template <typename Config>
class shard_link {
 public:
  using connection = std::shared_ptr<peer<Config>>;
  using message = typename websocketpp::server<Config>::message_ptr;
  // deliver(peer, message): hands the message to the peer's home (set by server_core).
  using courier = std::function<void(const connection&, const message&)>;

  shard_link() = default;
  shard_link(std::size_t self, courier deliver) : self_(self), deliver_(std::move(deliver)) {}

  static message prepare(std::string_view payload) { return ws_link<Config>::prepare(payload); }
  [[nodiscard]] std::size_t queued(const connection& p) const {
    if (p->home == self_) {
      return p->con->get_buffered_amount();
    }
    return p->queued.load(std::memory_order_relaxed) + p->in_flight.load(std::memory_order_relaxed);
  }
  bool send(connection& p, const message& m) {
    if (p->home == self_) {
      return !p->con->send(m);
    }
    p->in_flight.fetch_add(size_of(m), std::memory_order_relaxed);
    deliver_(p, m);
    return true;
  }
  bool send_text(connection& p, std::string_view payload) {
    if (p->home == self_) {
      return !p->con->send(payload.data(), payload.size(), websocketpp::frame::opcode::text);
    }
    return send(p, prepare(payload));
  }
  static void dropped(connection& p) { p->dropped.fetch_add(1, std::memory_order_relaxed); }
  static std::size_t size_of(const message& m) { return m->get_header().size() + m->get_payload().size(); }

 private:
  std::size_t self_ = 0;
  courier deliver_;
};

template <typename Config>
class server_core final : public server_engine {
 public:
  explicit server_core(server_options options) : options_(std::move(options)) {
    if (!options_.make_pipeline) {
      options_.make_pipeline = default_pipeline_factory();
    }
    if (options_.io_threads < 1 || options_.io_threads > max_io_threads) {
      throw std::invalid_argument("streamstats::websocket: io_threads must be 1 to " +
                                  std::to_string(max_io_threads));
    }
    if (options_.io_threads > 1 && !options_.redis.url.empty()) {
      // The broker drives its Redis connections from one io thread and sees every stream.
      throw std::invalid_argument(
          "streamstats::websocket: io_threads > 1 together with redis.url is not supported (the Redis "
          "broker runs on one io thread): set io_threads = 1 or leave redis.url empty");
    }
#if defined(STREAMSTATS_WEBSOCKET_TLS)
    if constexpr (is_tls_config<Config>) {
      // Throws tls_error (a missing file, a key that does not match): no server without its certificate.
      tls_ = std::make_unique<tls_context_store>(options_.tls);
    }
#endif
    const std::size_t n = options_.io_threads;
    for (std::size_t i = 0; i < n; ++i) {
      shards_.push_back(std::make_unique<shard>(*this, i, options_));
    }
    for (auto& sh : shards_) {
      for (std::size_t j = 0; j < n; ++j) {
        sh->inbox.push_back(std::make_unique<handoff_type>());
      }
      sh->outgoing.resize(n);
    }
    acceptor_ = std::make_unique<acceptor<Config>>(shards_[0]->endpoint, shards_[0]->io, [this] {
      // Round robin: the next connection lives on the next shard.
      shard& sh = *shards_[next_home_++ % shards_.size()];
      return sh.endpoint.get_connection();
    });
  }

  ~server_core() override {
    if (thread_.joinable()) {
      stop();
      thread_.join();
    }
    broker_.reset();  // before the shard whose io_context its connections use
    // No io thread runs now. Shards hold references to each other's connections (visitor records,
    // messages in handoffs); they go first, so that every connection is released while every
    // io_context still exists.
    for (auto& sh : shards_) {
      sh->visitors.clear();
      for (auto& in : sh->inbox) {
        typename handoff_type::batch b;
        in->take(b);
      }
      sh->draining.clear();
      for (auto& b : sh->outgoing) {
        b.clear();
      }
    }
  }

  // ---- lifecycle (server's public API) -----------------------------------------------------------

  void listen() override {
    if (listening_) {
      return;
    }
    shard& s0 = *shards_[0];
    std::error_code ec;
    const auto addr = asio::ip::make_address(options_.address, ec);
    if (ec) {
      throw std::system_error(ec, "streamstats::websocket: bad listen address '" + options_.address + "'");
    }
    // The streams of the last checkpoint exist before the first connection can be accepted.
    restore_state();
    start_broker();
    s0.endpoint.listen(asio::ip::tcp::endpoint(addr, options_.port), ec);
    if (ec) {
      throw std::system_error(ec, "streamstats::websocket: cannot listen on " + options_.address + ":" +
                                      std::to_string(options_.port));
    }
    acceptor_->start();
    asio::error_code aec;
    const auto local = s0.endpoint.get_local_endpoint(aec);
    port_.store(aec ? options_.port : local.port(), std::memory_order_release);
    listening_ = true;
    for (auto& sh : shards_) {
      schedule_tick(*sh);
      if (sh->index != 0) {
        sh->keep_running.emplace(sh->io.get_executor());
      }
    }
    if (checkpoints_) {
      checkpoints_->every(options_.checkpoint_interval, [this] { begin_checkpoint(); });
    }
  }

  void run() override {
    listen();
    run_shards();
    final_checkpoint();
  }

  void start() override {
    listen();
    thread_ = std::thread([this] {
      run_shards();
      final_checkpoint();
    });
  }

  void join() override {
    if (thread_.joinable()) {
      thread_.join();
    }
  }

  void stop() override {
    asio::post(shards_[0]->io, [this] { do_stop(); });
  }

  void reconfigure(std::function<void(server_options&)> change) override {
    asio::post(shards_[0]->io, [this, change = std::move(change)] {
      // Applied once, on shard 0's copy; the other shards get a copy of the result.
      const std::size_t threads = options_.io_threads;
      change(options_);
      options_.io_threads = threads;  // fixed at construction
      if (!options_.make_pipeline) {
        options_.make_pipeline = default_pipeline_factory();
      }
      apply_options(*shards_[0], options_);
      for (std::size_t i = 1; i < shards_.size(); ++i) {
        asio::post(shards_[i]->io, [this, i, o = options_] { apply_options(*shards_[i], o); });
      }
      if (checkpoints_) {
        checkpoints_->set_interval(options_.checkpoint_interval);
      }
    });
  }

#if defined(STREAMSTATS_WEBSOCKET_TLS)
  void reload_tls(tls_options next) override {
    if constexpr (is_tls_config<Config>) {
      tls_->reload(std::move(next));
    } else {
      throw tls_error("tls: this server was started without TLS; turning it on needs a restart");
    }
  }
#endif

  void stop_on_signals(std::initializer_list<int> signals) override {
    signals_ = std::make_unique<asio::signal_set>(shards_[0]->io);
    for (const int s : signals) {
      signals_->add(s);
    }
    signals_->async_wait([this](const std::error_code& ec, int /*signal*/) {
      if (!ec) {
        do_stop();
      }
    });
  }

  [[nodiscard]] std::uint16_t port() const noexcept override { return port_.load(std::memory_order_acquire); }
  [[nodiscard]] const server_options& options() const noexcept override { return options_; }

  [[nodiscard]] server_stats stats() const noexcept override {
    server_stats s;
    s.connections = n_connections_.get();
    s.refused_handshakes = n_refused_.load(std::memory_order_relaxed);
    for (const auto& sh : shards_) {
      s.streams += sh->streams.size();
      s.messages += sh->n_messages.get();
      s.samples += sh->n_samples.get();
      s.rejected += sh->n_rejected.get();
      const auto& f = sh->fanout.stats();
      s.dropped += f.dropped.get();
      s.snapshots_sent += f.snapshots.get();
      s.alerts_sent += f.alerts.get();
      s.peak_queued_bytes = std::max(s.peak_queued_bytes, f.peak_queued.get());
    }
    return s;
  }

  void push(std::string stream, double value, double t) override {
    shard& owner = owner_of(stream);
    asio::post(owner.io, [this, &owner, stream = std::move(stream), value, t] {
      if (!stopping_.load(std::memory_order_relaxed)) {
        handle_push(owner, nullptr, nullptr, stream, &value, 1, t, {});
      }
    });
  }

  void push(std::string stream, std::vector<double> values, double t) override {
    shard& owner = owner_of(stream);
    asio::post(owner.io, [this, &owner, stream = std::move(stream), values = std::move(values), t] {
      if (!stopping_.load(std::memory_order_relaxed)) {
        handle_push(owner, nullptr, nullptr, stream, values.data(), values.size(), t, {});
      }
    });
  }

  // io_threads beyond this are refused (config.hpp checks the same bound).
  static constexpr std::size_t max_io_threads = 64;

 private:
  static auth_options auth_options_of(const server_options& o) {
    auth_options a;
    a.producer_token = o.producer_token;
    a.anonymous_subscribe = o.anonymous_subscribe;
#if defined(STREAMSTATS_WEBSOCKET_TLS)
    a.jwt = o.jwt;
#endif
    return a;
  }

  using endpoint_type = websocketpp::server<Config>;
  using connection_ptr = typename endpoint_type::connection_ptr;
  using message_ptr = typename endpoint_type::message_ptr;
  using hdl_type = websocketpp::connection_hdl;
  using peer_type = peer<Config>;
  using peer_ptr = std::shared_ptr<peer_type>;
  using link = shard_link<Config>;
  using fanout_type = fanout<link>;
  using registry = typename fanout_type::registry;
  using stream_type = typename fanout_type::stream;
  using subscriber = typename fanout_type::subscriber;
  struct shard;

  // The connection on its home shard; it is also that shard's fan-out record of it.
  struct connection_state : subscriber {
    bool authorized = false;
    access_grant grant;    // its rights and, for a JWT, when they end
    bool closing = false;  // closed for an expired token: nothing more is applied
    // The stream of another shard it last pushed to with a JWT's publish right (already checked).
    std::string last_remote_push;
    // Pushed or subscribed at least once (idle_timeout applies to the others).
    bool active = false;
    std::chrono::steady_clock::time_point opened{};
    std::string address;    // remote IP, for max_connections_per_address
    token_bucket messages;  // max_messages_per_second
    token_bucket queries;   // query_budget_per_second
    pong_budget<typename Config::message_type> pongs;
    // The last stream of this shard this connection pushed to: producers usually push to one
    // stream, so this saves the map lookup on the hot path.
    stream_type* last_stream = nullptr;
  };

  // What crosses between shards (handoff.hpp).
  struct item {
    enum class kind : unsigned char { push, deliver, op };
    kind k = kind::op;
    peer_ptr p;                   // deliver and op (an op keeps the connection's peer alive till it runs)
    peer_type* pusher = nullptr;  // push: alive, as the close of its connection comes after (FIFO)
    handoff_span name, values, id, producer;  // push: producer id (empty span: none)
    double t = 0.0;
    std::uint64_t seq = 0;           // push: the producer's sequence number (0: not numbered)
    message_ptr msg;                 // deliver
    std::function<void(shard&)> fn;  // op, run on the receiving shard
    void rebase(std::uint32_t text, std::uint32_t vals) noexcept {
      name.offset += text;
      id.offset += text;
      producer.offset += text;
      values.offset += vals;
    }
  };
  using handoff_type = handoff<item>;

  struct shard {
    shard(server_core& core, std::size_t i, const server_options& o)
        : index(i),
          tick(io),
          options(o),
          access(o.allowed_origins, o.same_origin, o.producer_token),
          auth(auth_options_of(o)),
          streams(std::numeric_limits<std::size_t>::max()),  // max_streams is server-wide: owner_create
          fanout(link(i, [&core, i](const peer_ptr& p, const message_ptr& m) { core.deliver(i, p, m); }),
                 o.max_queued_bytes) {
      endpoint.init_asio(&io);
      endpoint.set_reuse_addr(true);
      endpoint.set_max_message_size(o.max_message_size);
      endpoint.set_max_http_body_size(o.max_message_size);
      endpoint.set_close_handshake_timeout(static_cast<long>(o.shutdown_timeout.count()));
      endpoint.set_validate_handler([&core, this](const hdl_type& h) { return core.on_validate(*this, h); });
      endpoint.set_open_handler([&core, this](const hdl_type& h) { core.on_open(*this, h); });
      endpoint.set_close_handler([&core, this](const hdl_type& h) { core.on_close(*this, h); });
      endpoint.set_fail_handler([&core, this](const hdl_type& h) {
        core.on_fail(*this, h);
        core.on_close(*this, h);
      });
      endpoint.set_http_handler([&core, this](const hdl_type& h) { core.on_http(*this, h); });
#if defined(STREAMSTATS_WEBSOCKET_TLS)
      if constexpr (is_tls_config<Config>) {
        endpoint.set_tls_init_handler([&core](const hdl_type& /*h*/) { return core.tls_->current(); });
        // After accept, before the handshake: the context of now, not of when the connection was made.
        endpoint.set_tcp_pre_init_handler([&core, this](const hdl_type& h) {
          std::error_code ec;
          if (connection_ptr con = endpoint.get_con_from_hdl(h, ec); !ec && con) {
            adopt_context(con->get_socket().native_handle(), core.tls_->current());
          }
        });
      }
#endif
    }

    std::size_t index;
    asio::io_context io;
    endpoint_type endpoint;
    asio::steady_timer tick;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> keep_running;
    std::chrono::steady_clock::time_point last_idle_check{};
    server_options options;  // this thread's copy
    access_policy access;
    authenticator auth;  // this thread's (its own JWT verifier)
    request_parser parser;
    std::string out;  // reused reply buffer
    registry streams;
    fanout_type fanout;
    // Connections living here, owned here: websocketpp keeps no list of its connections, and a
    // graceful stop must close them all.
    std::unordered_map<const void*, std::unique_ptr<connection_state>> connections;
    // Fan-out records of the connections of other shards that asked something of a stream here.
    std::unordered_map<const void*, std::unique_ptr<subscriber>> visitors;
    std::vector<std::unique_ptr<handoff_type>> inbox;  // inbox[from]
    typename handoff_type::batch draining;
    // What this shard hands to each other one during the current turn of its io loop (no lock), and
    // whether the hand-over at the end of the turn is posted.
    std::vector<typename handoff_type::batch> outgoing;
    bool handover_posted = false;
    std::array<relaxed_counter, 32> rejected_by_code{};
    relaxed_counter n_messages, n_samples, n_rejected;
    // Handshakes refused by auth, by reason; connections closed for an expired token; open
    // connections whose grant expires (the tick looks for expired ones only while there are any).
    std::map<std::string, std::uint64_t, std::less<>> auth_refused;
    std::uint64_t n_token_expired = 0;
    std::size_t expiring = 0;
    std::chrono::steady_clock::time_point last_expiry_check{};
#if defined(STREAMSTATS_WEBSOCKET_TLS)
    std::array<std::uint64_t, 6> tls_failures{};  // by tls_failure (TLS servers only)
#endif
  };

  // dispatch.hpp's handler: the actions for one message of connection `c` on shard `sh`. Every
  // access check (producer token, a JWT's rights and expiry) is made here, on the connection's own
  // thread, before anything is handed to the shard that owns the stream.
  struct actions {
    server_core& self;
    shard& sh;
    connection_state& c;

    void invalid(const request& req, const request_error& err) {
      // The stream is known when the message got that far and names an existing stream (counted on
      // its owner, and only for a connection that may push).
      stream_type* s = nullptr;
      if (req.has_stream && c.authorized) {
        shard& owner = self.owner_of(req.stream);
        if (&owner == &sh) {
          s = sh.streams.find(req.stream);
        } else {
          self.forward_op(sh, owner, c.con, [name = std::string(req.stream)](shard& o) {
            if (stream_type* st = o.streams.find(name)) {
              registry::count_rejected(*st);
            }
          });
        }
      }
      self.reject(sh, &c, s, err.code, err.message, req.id);
    }
    void push(std::string_view name, const double* v, std::size_t n, double t, std::string_view id,
              const producer_seq& origin) {
      if (!c.authorized) {
        self.reject(sh, &c, nullptr, error_code::unauthorized, "pushing requires the producer token", id);
        return;
      }
      shard& owner = self.owner_of(name);
      const bool here = &owner == &sh;
      if (!c.grant.publish_all) {
        // A JWT's rights: checked unless this is the stream it pushed to last (already allowed).
        if (!self.allowed(sh, c)) {
          return;
        }
        const bool checked =
            here ? c.last_stream != nullptr && c.last_stream->name == name : c.last_remote_push == name;
        if (!checked) {
          if (!c.grant.may_publish(name)) {
            self.reject(sh, &c, nullptr, error_code::forbidden, "no publish right on this stream", id);
            return;
          }
          if (!here) {
            c.last_remote_push.assign(name);
          }
        }
      }
      c.active = true;
      if (here) {
        self.handle_push(sh, &c, &c.last_stream, name, v, n, t, id, nullptr, origin);
      } else {
        self.forward_push(sh, owner, c.con, name, v, n, t, id, origin);
      }
    }
    // Whether `c` may list or subscribe to every stream without a filter.
    [[nodiscard]] bool sees_everything() const {
      return c.grant.subscribe_all || c.grant.may_subscribe_everything();
    }
    void list(const request& req) {
      if (!self.allowed(sh, c)) {
        return;
      }
      const std::size_t total = self.stream_count();
      if (!self.spend_query(sh, c, std::min(total, sh.options.max_list_streams), req.id)) {
        return;
      }
      if (self.shards_.size() == 1) {
        sh.out.clear();
        const list_totals totals{sh.options.max_list_streams, self.rejected_total(),
                                 c.con->dropped.load(std::memory_order_relaxed), self.dropped_total()};
        if (sees_everything()) {
          write_list(sh.out, sh.streams, totals, req.id);
        } else {
          write_list(
              sh.out, sh.streams, totals, req.id,
              [this](std::string_view name) { return c.grant.may_subscribe(name); }, true);
        }
        sh.fanout.send_text(c, sh.out);
        return;
      }
      std::shared_ptr<const access_grant> filter;
      if (!sees_everything()) {
        filter = std::make_shared<const access_grant>(c.grant);
      }
      self.gather_list(sh, c, std::string(req.id), std::move(filter));
    }
    void subscribe_all(const request& req) {
      if (!self.allowed(sh, c)) {
        return;
      }
      if (!sees_everything()) {
        self.reject(sh, &c, nullptr, error_code::forbidden,
                    "subscribing to \"*\" needs a \"*\" subscribe right", req.id);
        return;
      }
      if (self.spend_query(sh, c, std::max<std::size_t>(1, self.stream_count()), req.id)) {
        self.send_subscription_ack(sh, c, req);  // the ack first, then the snapshots
        c.active = true;
        self.for_every_shard(sh, c.con,
                             [](shard& o, subscriber& rec) { o.fanout.subscribe_all(rec, o.streams); });
      }
    }
    void unsubscribe_all(const request& req) {
      if (self.spend_query(sh, c, std::max<std::size_t>(1, self.stream_count()), req.id)) {
        self.send_subscription_ack(sh, c, req);
        self.for_every_shard(sh, c.con, [](shard& o, subscriber& rec) { o.fanout.unsubscribe_all(rec); });
      }
    }
    void on_stream(const request& req) {
      if (req.type != request_type::unsubscribe &&
          (!self.allowed(sh, c) || (!c.grant.subscribe_all && !c.grant.may_subscribe(req.stream)))) {
        if (!c.closing) {
          self.reject(sh, &c, nullptr, error_code::forbidden, "no subscribe right on this stream", req.id);
        }
        return;
      }
      shard& owner = self.owner_of(req.stream);
      if (&owner == &sh) {
        stream_type* s = sh.streams.find(req.stream);
        if (s == nullptr) {
          self.reject_unknown(sh, &c, req.stream, req.id);
          return;
        }
        if (!self.spend_query(sh, c, 1, req.id)) {
          return;
        }
        if (req.type == request_type::subscribe) {
          c.active = true;
        }
        self.stream_request(sh, c, *s, req.type, req.stream, req.id);
        return;
      }
      // Owned elsewhere (and allowed, above): the budget is spent here (an unknown stream costs 1
      // then), the owner answers.
      if (!self.spend_query(sh, c, 1, req.id)) {
        return;
      }
      if (req.type == request_type::subscribe) {
        c.active = true;
      }
      self.forward_op(sh, owner, c.con,
                      [&core = self, type = req.type, name = std::string(req.stream),
                       id = std::string(req.id)](shard& o, subscriber& rec) {
                        stream_type* s = o.streams.find(name);
                        if (s == nullptr) {
                          core.reject_unknown(o, &rec, name, id);
                          return;
                        }
                        core.stream_request(o, rec, *s, type, name, id);
                      });
    }
  };

  // ---- the io threads ----------------------------------------------------------------------------

  void run_shards() {
    std::vector<std::thread> others;
    for (std::size_t i = 1; i < shards_.size(); ++i) {
      others.emplace_back([this, i] { shards_[i]->io.run(); });
    }
    shards_[0]->io.run();
    for (std::thread& t : others) {
      t.join();
    }
  }

  shard& owner_of(std::string_view name) {
    if (shards_.size() == 1) {
      return *shards_[0];
    }
    return *shards_[std::hash<std::string_view>{}(name) % shards_.size()];
  }

  static void apply_options(shard& sh, const server_options& o) {
    sh.options = o;
    sh.fanout.set_max_queued_bytes(o.max_queued_bytes);
    // The access rules are a copy of the options' (origins, same-origin, token): rebuilt, so a
    // reload applies to the next handshake.
    sh.access = access_policy(o.allowed_origins, o.same_origin, o.producer_token);
    sh.auth = authenticator(auth_options_of(o));
  }

  // Every shard's streams (relaxed reads: a budget, not an invariant).
  std::size_t stream_count() const {
    std::size_t n = 0;
    for (const auto& sh : shards_) {
      n += sh->streams.size();
    }
    return n;
  }

  std::uint64_t rejected_total() const {
    std::uint64_t n = 0;
    for (const auto& sh : shards_) {
      n += sh->n_rejected.get();
    }
    return n;
  }
  std::uint64_t dropped_total() const {
    std::uint64_t n = 0;
    for (const auto& sh : shards_) {
      n += sh->fanout.stats().dropped.get();
    }
    return n;
  }

  // ---- handoffs between shards -------------------------------------------------------------------

  void drain(shard& to, std::size_t from) {
    auto& b = to.draining;
    to.inbox[from]->take(b);
    for (item& it : b.items) {
      switch (it.k) {
        case item::kind::push:
          if (!stopping_.load(std::memory_order_relaxed)) {
            handle_push(to, nullptr, nullptr, b.text_of(it.name), b.values_of(it.values), it.values.size,
                        it.t, b.text_of(it.id), it.pusher, producer_seq{b.text_of(it.producer), it.seq});
          }
          break;
        case item::kind::deliver: {
          // A message for a connection living here, from the shard that owns the stream.
          peer_type& p = *it.p;
          p.in_flight.fetch_sub(link::size_of(it.msg), std::memory_order_relaxed);
          if (!p.con->send(it.msg)) {
            p.queued.store(p.con->get_buffered_amount(), std::memory_order_relaxed);
          }
          break;
        }
        case item::kind::op:
          it.fn(to);
          break;
      }
    }
    b.clear();
  }

  // Appends to what `from` hands `to` this turn; the hand-over runs once the turn's handlers are done.
  template <typename Fill>
  void enqueue(shard& from, shard& to, Fill&& fill) {
    fill(from.outgoing[to.index]);
    if (!from.handover_posted) {
      from.handover_posted = true;
      asio::post(from.io, [this, &from] { hand_over(from); });
    }
  }

  void hand_over(shard& from) {
    from.handover_posted = false;
    for (auto& to : shards_) {
      auto& b = from.outgoing[to->index];
      if (!b.items.empty()) {
        to->inbox[from.index]->send_batch(to->io, b, [this, &t = *to, f = from.index] { drain(t, f); });
      }
    }
  }

  void send_item(shard& from, shard& to, item&& it) {
    enqueue(from, to, [&](typename handoff_type::batch& b) { b.items.push_back(std::move(it)); });
  }

  // Owner `from` hands message `m` to the home of `p`.
  void deliver(std::size_t from, const peer_ptr& p, const message_ptr& m) {
    item it;
    it.k = item::kind::deliver;
    it.p = p;
    it.msg = m;
    send_item(*shards_[from], *shards_[p->home], std::move(it));
  }

  void forward_push(shard& from, shard& to, const peer_ptr& p, std::string_view name, const double* v,
                    std::size_t n, double t, std::string_view id, const producer_seq& origin) {
    enqueue(from, to, [&](typename handoff_type::batch& b) {
      item it;
      it.k = item::kind::push;
      it.pusher = p.get();
      it.name = b.add_text(name);
      it.values = b.add_values(v, n);
      it.id = b.add_text(id);
      it.t = t;
      it.producer = b.add_text(origin.producer);
      it.seq = origin.seq;
      b.items.push_back(std::move(it));
    });
  }

  // Runs f(owner shard, the owner's record of `p`) on `to`, after what `from` handed it before.
  template <typename F>
  void forward_op(shard& from, shard& to, const peer_ptr& p, F&& f) {
    item it;
    it.k = item::kind::op;
    it.p = p;
    if constexpr (std::is_invocable_v<F&, shard&, subscriber&>) {
      it.fn = [this, p, f = std::forward<F>(f)](shard& o) mutable { f(o, record_of(o, p)); };
    } else {
      it.fn = std::forward<F>(f);
    }
    send_item(from, to, std::move(it));
  }

  // f(shard, record of p) on every shard: here at once, elsewhere through the handoffs.
  template <typename F>
  void for_every_shard(shard& home, const peer_ptr& p, F f) {
    for (auto& sh : shards_) {
      if (sh.get() == &home) {
        f(home, record_of(home, p));
      } else {
        forward_op(home, *sh, p, f);
      }
    }
  }

  // The fan-out record of `p` on shard `sh`: the connection itself on its home, a visitor record
  // elsewhere (created on first use, removed when the connection closes).
  subscriber& record_of(shard& sh, const peer_ptr& p) {
    if (p->home == sh.index) {
      return *sh.connections.at(p->con.get());
    }
    auto& v = sh.visitors[p.get()];
    if (!v) {
      v = std::make_unique<subscriber>();
      v->con = p;
    }
    return *v;
  }

  // ---- timers and shutdown -----------------------------------------------------------------------

  void schedule_tick(shard& sh) {
    sh.tick.expires_after(sh.options.snapshot_interval);
    sh.tick.async_wait([this, &sh](const std::error_code& ec) { on_tick(sh, ec); });
  }

  void on_tick(shard& sh, const std::error_code& ec) {
    if (ec || stopping_.load(std::memory_order_relaxed)) {
      return;
    }
    flush_snapshots(sh, false);
    if (sh.expiring > 0) {
      const auto now = std::chrono::steady_clock::now();
      if (now - sh.last_expiry_check >= std::chrono::milliseconds(250)) {
        sh.last_expiry_check = now;
        close_expired(sh);
      }
    }
    if (sh.options.idle_timeout.count() > 0) {
      const auto now = std::chrono::steady_clock::now();
      if (now - sh.last_idle_check >= std::chrono::milliseconds(250)) {
        sh.last_idle_check = now;
        close_idle(sh);
      }
    }
    schedule_tick(sh);
  }

  void flush_snapshots(shard& sh, bool final_flush) {
    for (auto& [key, c] : sh.connections) {
      if (shards_.size() > 1) {
        // Other shards' view of this connection's send queue (shard_link::queued).
        c->con->queued.store(c->con->con->get_buffered_amount(), std::memory_order_relaxed);
      }
      sh.fanout.flush(*c, final_flush);
    }
    for (auto& [key, v] : sh.visitors) {
      sh.fanout.flush(*v, final_flush);
    }
  }

  void close_idle(shard& sh) {
    const auto deadline = std::chrono::steady_clock::now() - sh.options.idle_timeout;
    std::vector<connection_ptr> idle;
    for (auto& [key, c] : sh.connections) {
      if (!c->active && c->opened < deadline) {
        idle.push_back(c->con->con);
      }
    }
    for (const connection_ptr& con : idle) {
      std::error_code ec;
      con->close(websocketpp::close::status::policy_violation, "idle: no push or subscribe", ec);
    }
  }

  // Closes (4001) the connections of `sh` whose token expired; they do nothing more meanwhile
  // (allowed()).
  void close_expired(shard& sh) {
    const std::int64_t now = unix_now();
    std::vector<connection_state*> expired;
    for (auto& [key, c] : sh.connections) {
      if (!c->closing && now >= c->grant.expires_at) {
        expired.push_back(c.get());
      }
    }
    for (connection_state* c : expired) {
      expire(sh, *c);
    }
  }

  static void expire(shard& sh, connection_state& c) {
    c.closing = true;
    ++sh.n_token_expired;
    std::error_code ec;
    c.con->con->close(close_token_expired, "token expired", ec);
  }

  // Whether `c` (living on `sh`) may still act: false (and closed, 4001) once its token has expired,
  // so nothing is applied between the expiry and the next check of the tick.
  static bool allowed(shard& sh, connection_state& c) {
    if (c.closing) {
      return false;
    }
    if (c.grant.expires() && unix_now() >= c.grant.expires_at) {
      expire(sh, c);
      return false;
    }
    return true;
  }

  // Stop accepting; every shard sends its final snapshots; once all have, every shard closes its
  // connections (so a final snapshot handed to another shard is queued before that close).
  void do_stop() {
    if (stopping_.exchange(true)) {
      return;
    }
    if (checkpoints_) {
      checkpoints_->cancel();  // the timer; the checkpoint at stop follows once the io loops are done
    }
    acceptor_->stop();
    if (broker_) {
      broker_->stop();  // leases given back; its connections close, so the io loop can end
    }
    if (signals_) {
      std::error_code ec;
      signals_->cancel(ec);
    }
    if (listening_) {
      // On shard 0's thread: stop_listening() races with the accept handler otherwise.
      std::error_code ec;
      shards_[0]->endpoint.stop_listening(ec);
    }
    flushes_left_.store(shards_.size());
    for (std::size_t i = 1; i < shards_.size(); ++i) {
      asio::post(shards_[i]->io, [this, i] { final_flush(*shards_[i]); });
    }
    final_flush(*shards_[0]);
    // Clients that never answer the close handshake (or never read) are cut off after the timeout.
    shutdown_timer_ = std::make_unique<asio::steady_timer>(shards_[0]->io);
    shutdown_timer_->expires_after(options_.shutdown_timeout);
    shutdown_timer_->async_wait([this](const std::error_code& ec) {
      if (!ec) {
        for (auto& sh : shards_) {
          asio::post(sh->io, [&s = *sh] {
            for (const connection_ptr& con : open_connections(s)) {
              std::error_code cec;
              con->get_raw_socket().close(cec);
            }
          });
        }
      }
    });
    maybe_done();
  }

  void final_flush(shard& sh) {
    sh.tick.cancel();
    flush_snapshots(sh, true);
    hand_over(sh);  // the final snapshots for other shards' connections are on their way first
    if (flushes_left_.fetch_sub(1) == 1) {
      for (auto& s : shards_) {
        if (s.get() == &sh) {
          close_all(sh);
        } else {
          asio::post(s->io, [this, &o = *s] { close_all(o); });
        }
      }
    }
  }

  void close_all(shard& sh) {
    for (const connection_ptr& con : open_connections(sh)) {
      std::error_code ec;
      con->close(websocketpp::close::status::going_away, "server shutting down", ec);
    }
    sh.keep_running.reset();
  }

  // Cancels the shutdown timer once every connection (and admitted handshake) is gone.
  void maybe_done() {
    bool done = false;
    {
      const std::lock_guard<std::mutex> lock(admission_mutex_);
      done = open_total_ == 0 && admissions_.pending() == 0;
    }
    if (done && stopping_.load()) {
      asio::post(shards_[0]->io, [this] {
        if (shutdown_timer_) {
          shutdown_timer_->cancel();
        }
      });
    }
  }

  static std::vector<connection_ptr> open_connections(const shard& sh) {
    std::vector<connection_ptr> open;
    open.reserve(sh.connections.size());
    for (const auto& [key, c] : sh.connections) {
      open.push_back(c->con->con);
    }
    return open;
  }

  // ---- checkpoints (issue 11; checkpoint_runner.hpp) ----------------------------------------------

  // What checkpoint_runner::restore fills: each saved stream goes to the shard its name hashes to.
  struct restore_router {
    server_core& self;
    stream_type* restore(std::string_view name, std::unique_ptr<pipeline> pipe, const stream_counters& k) {
      return self.restore_stream(self.owner_of(name), name, std::move(pipe), k);
    }
  };

  // On the owner's thread (or before the io threads run): the stream `name` of `sh` with this
  // pipeline and these counters, created when new (max_streams is not applied, as in the registry).
  stream_type* restore_stream(shard& sh, std::string_view name, std::unique_ptr<pipeline> pipe,
                              const stream_counters& k) {
    const bool existed = sh.streams.find(name) != nullptr;
    stream_type* s = sh.streams.restore(name, std::move(pipe), k);
    if (s != nullptr && !existed) {
      n_streams_.fetch_add(1, std::memory_order_relaxed);
      sh.fanout.stream_created(*s);
    }
    return s;
  }

  // Before listening: the streams of the newest valid checkpoint (damaged files and refused streams
  // are logged). Throws std::system_error when the state directory cannot be created.
  void restore_state() {
    if (!options_.state_dir.empty() && !checkpoints_) {
      checkpoints_ = std::make_unique<checkpoint_runner>(shards_[0]->io, options_.state_dir, options_.log);
      restore_router router{*this};
      checkpoints_->restore(router, options_.make_pipeline, [](stream_type& /*s*/) {});
    }
    restored_ = true;
  }

  // Periodic, on shard 0's thread: each shard's streams serialised in slices on its own thread, one
  // shard after the other, into one file written by the writer thread.
  void begin_checkpoint() {
    if (shards_.size() == 1) {
      checkpoints_->start(shards_[0]->streams);
      return;
    }
    std::vector<checkpoint_runner::part> parts;
    parts.reserve(shards_.size());
    for (auto& sh : shards_) {
      parts.push_back(checkpoint_runner::part_of(sh->io, sh->streams));
    }
    checkpoints_->start(std::move(parts));
  }

  // After every io loop has returned (no sample can arrive any more): every stream of every shard,
  // synchronously.
  void final_checkpoint() {
    if (checkpoints_) {
      std::vector<const registry*> all;
      for (const auto& sh : shards_) {
        all.push_back(&sh->streams);
      }
      checkpoints_->finish(all);
    }
  }

  // ---- handshake and connections (transport → access) --------------------------------------------

  bool on_validate(shard& sh, const hdl_type& hdl) {
    connection_ptr con = sh.endpoint.get_con_from_hdl(hdl);
    auto refuse = [&](websocketpp::http::status_code::value status) {
      n_refused_.fetch_add(1, std::memory_order_relaxed);
      con->set_status(status);
      return false;
    };
    if (stopping_.load(std::memory_order_relaxed)) {
      return refuse(websocketpp::http::status_code::service_unavailable);
    }
    const std::string& resource = con->get_resource();
    const std::string_view path = std::string_view(resource).substr(0, resource.find('?'));
    if (path != "/ws") {
      return refuse(websocketpp::http::status_code::not_found);
    }
    if (!sh.access.origin_allowed(con->get_request_header("Origin"), con->get_request_header("Host"),
                                  is_tls_config<Config>)) {
      return refuse(websocketpp::http::status_code::forbidden);
    }
    auth_decision decision = sh.auth.decide(con->get_request_header("Authorization"), resource, unix_now());
    if (!decision.admitted) {
      ++sh.auth_refused[decision.refusal];
      // RFC 6750 §3: no error code when no credential was given; else invalid_token and the reason.
      con->append_header("WWW-Authenticate", decision.refusal == "missing_token"
                                                 ? std::string("Bearer realm=\"streamstats\"")
                                                 : "Bearer realm=\"streamstats\", error=\"invalid_token\", "
                                                   "error_description=\"" +
                                                       decision.refusal + "\"");
      return refuse(websocketpp::http::status_code::unauthorized);
    }
    std::error_code ec;
    const auto remote = con->get_raw_socket().remote_endpoint(ec);
    std::string address = ec ? std::string() : remote.address().to_string();
    const bool may_push = decision.grant.may_publish_any();
    admission_table::verdict v{};
    {
      const std::lock_guard<std::mutex> lock(admission_mutex_);
      v = admissions_.admit(hdl, std::move(address), may_push, open_total_, sh.options.max_connections,
                            sh.options.max_connections_per_address, std::move(decision.grant));
    }
    switch (v) {
      case admission_table::verdict::admitted:
        return true;
      case admission_table::verdict::full:
        return refuse(websocketpp::http::status_code::service_unavailable);
      case admission_table::verdict::too_many_from_address:
        break;
    }
    return refuse(websocketpp::http::status_code::too_many_requests);
  }

  void on_open(shard& sh, const hdl_type& hdl) {
    connection_ptr con = sh.endpoint.get_con_from_hdl(hdl);
    admission_table::admission adm;
    {
      const std::lock_guard<std::mutex> lock(admission_mutex_);
      adm = admissions_.open(hdl);
      ++open_total_;
      n_connections_.set(open_total_);
    }
    // Without TCP_NODELAY, Nagle + delayed ACK stall pipelined request/reply traffic by 40–50 ms.
    // (Here, not in the socket-init handler: the socket is open only now.)
    std::error_code ec;
    con->get_raw_socket().set_option(asio::ip::tcp::no_delay(true), ec);

    auto state = std::make_unique<connection_state>();
    state->con = std::make_shared<peer_type>();
    state->con->con = con;
    state->con->home = sh.index;
    state->authorized = adm.authorized;
    state->grant = std::move(adm.grant);
    if (state->grant.expires()) {
      ++sh.expiring;
    }
    state->address = std::move(adm.address);
    state->opened = std::chrono::steady_clock::now();
    state->messages.reset(sh.options.max_messages_per_second, state->opened);
    state->queries.reset(sh.options.query_budget_per_second, state->opened);
    connection_state* c = state.get();
    con->set_message_handler(
        [this, &sh, c](const hdl_type& /*h*/, const message_ptr& msg) { on_message(sh, *c, msg); });
    con->set_ping_handler(
        [this, c](const hdl_type& /*h*/, const std::string& payload) { return on_ping(*c, payload); });
    sh.connections.emplace(con.get(), std::move(state));
    if (stopping_.load(std::memory_order_relaxed)) {
      con->close(websocketpp::close::status::going_away, "server shutting down", ec);
    }
  }

  // The pong, sent by us rather than by websocketpp so that it counts against a bound: a client that
  // sends pings without reading the answers is closed (1008) instead of fed.
  bool on_ping(connection_state& c, const std::string& payload) {
    const connection_ptr& con = c.con->con;
    if (!c.pongs.fits(payload.size())) {
      std::error_code ec;
      con->close(websocketpp::close::status::policy_violation, "pings faster than pongs are read", ec);
      return false;
    }
    auto msg = std::make_shared<typename Config::message_type>(
        typename Config::con_msg_manager_type::ptr(), websocketpp::frame::opcode::pong, payload.size());
    // A control frame's payload is at most 125 bytes (RFC 6455 §5.5; websocketpp enforces it on
    // input), so the length fits the first byte.
    std::string header;
    header.push_back(static_cast<char>(0x8A));  // FIN + pong
    header.push_back(static_cast<char>(payload.size()));
    msg->set_header(header);
    msg->set_payload(payload);
    msg->set_prepared(true);
    if (!con->send(msg)) {
      c.pongs.queued(msg, payload.size());
    }
    return false;
  }

  // A connection that failed before it opened: on a TLS server, a failed handshake is counted by
  // reason (tls.hpp's classify_tls_failure reads the connection's OpenSSL state).
  static void on_fail(shard& sh, const hdl_type& hdl) {
    (void)sh;
    (void)hdl;
#if defined(STREAMSTATS_WEBSOCKET_TLS)
    if constexpr (is_tls_config<Config>) {
      std::error_code ec;
      connection_ptr con = sh.endpoint.get_con_from_hdl(hdl, ec);
      if (ec || !con) {
        return;
      }
      namespace sock = websocketpp::transport::asio::socket;
      const std::error_code why = con->get_ec();
      if (why == sock::make_error_code(sock::error::tls_handshake_failed) ||
          why == sock::make_error_code(sock::error::tls_handshake_timeout)) {
        ++sh.tls_failures[static_cast<std::size_t>(classify_tls_failure(con->get_socket().native_handle()))];
      }
    }
#endif
  }

  void on_close(shard& sh, const hdl_type& hdl) {
    {
      const std::lock_guard<std::mutex> lock(admission_mutex_);
      admissions_.forget(hdl);
    }
    const auto sp = hdl.lock();
    const auto it = sh.connections.find(sp.get());
    if (it != sh.connections.end()) {
      connection_state* c = it->second.get();
      if (c->grant.expires()) {
        --sh.expiring;
      }
      sh.fanout.remove(*c);
      // The other shards drop their records of it (after whatever it handed them before).
      for (auto& o : shards_) {
        if (o.get() != &sh) {
          forward_op(sh, *o, c->con, [key = static_cast<const void*>(c->con.get())](shard& s) {
            if (const auto v = s.visitors.find(key); v != s.visitors.end()) {
              s.fanout.remove(*v->second);
              s.visitors.erase(v);
            }
          });
        }
      }
      {
        const std::lock_guard<std::mutex> lock(admission_mutex_);
        admissions_.release(c->address);
        --open_total_;
        n_connections_.set(open_total_);
      }
      sh.connections.erase(it);
    }
    maybe_done();
  }

  // ---- incoming messages (→ dispatch) ------------------------------------------------------------

  void on_message(shard& sh, connection_state& c, const message_ptr& msg) {
    sh.n_messages.add();
    if (const double rate = sh.options.max_messages_per_second; rate > 0.0) {
      if (!c.messages.take(rate, 1.0, 1.0, std::chrono::steady_clock::now())) {
        reject(sh, &c, nullptr, error_code::rate_limited, "too many messages per second");
        return;
      }
    }
    actions a{*this, sh, c};
    if (msg->get_opcode() == websocketpp::frame::opcode::binary) {
      dispatch_binary(sh.parser, msg->get_payload(), a);
    } else {
      dispatch_text(sh.parser, msg->get_payload(), a);
    }
  }

  // Draws `cost` from the connection's query budget (query_budget_per_second); false, with error
  // rate_limited sent, when the budget does not cover it. A request may cost more than a full bucket
  // (a list capped at max_list_streams, a "*" over many streams): it is allowed on a full bucket and
  // leaves the bucket in debt.
  bool spend_query(shard& sh, connection_state& c, std::size_t cost, std::string_view id) {
    const double rate = sh.options.query_budget_per_second;
    if (rate <= 0.0) {
      return true;
    }
    const auto cst = static_cast<double>(cost);
    if (!c.queries.take(rate, std::min(cst, rate), cst, std::chrono::steady_clock::now())) {
      reject(sh, &c, nullptr, error_code::rate_limited, "over the query budget (list, snapshot, subscribe)",
             id);
      return false;
    }
    return true;
  }

  void send_subscription_ack(shard& sh, subscriber& c, const request& req) {
    sh.out.clear();
    write_subscription_ack(sh.out, req);
    sh.fanout.send_text(c, sh.out);
  }

  // subscribe, unsubscribe or snapshot of stream `s`, owned by `sh`.
  void stream_request(shard& sh, subscriber& c, stream_type& s, request_type type, std::string_view name,
                      std::string_view id) {
    if (type == request_type::snapshot) {
      sh.fanout.send_snapshot(c, s, id);
      return;
    }
    request req;
    req.type = type;
    req.stream = name;
    req.id = id;
    send_subscription_ack(sh, c, req);
    if (type == request_type::subscribe) {
      sh.fanout.subscribe(c, s);
    } else {
      sh.fanout.unsubscribe(c, s);
    }
  }

  void reject_unknown(shard& sh, subscriber* c, std::string_view name, std::string_view id) {
    reject(sh, c, nullptr,
           registry::valid_name(name) ? error_code::unknown_stream : error_code::invalid_stream_name,
           "no such stream", id);
  }

  // Counts the error on shard `sh` and, for a connection, answers it. `s` (owned by `sh`) counts it
  // when the connection may push: a stream's "rejected" is what its producers got wrong, so a
  // connection that may not push (a server with a producer token, an anonymous client) cannot
  // raise it. (Errors about remote streams count there: actions::invalid.)
  void reject(shard& sh, subscriber* c, stream_type* s, error_code code, std::string_view message,
              std::string_view id = {}) {
    sh.n_rejected.add();
    if (const auto i = static_cast<std::size_t>(code); i < sh.rejected_by_code.size()) {
      sh.rejected_by_code[i].add();
    }
    if (s != nullptr) {
      registry::count_rejected(*s);
    }
    if (c == nullptr) {
      return;
    }
    sh.out.clear();
    write_error(sh.out, code, message, id);
    sh.fanout.send_text(*c, sh.out);
  }

  // ---- the push path (→ registry → fan-out), on the stream's owner --------------------------------

  // The stream `name` on its owner `sh`, created when needed (max_streams counts every shard);
  // nullptr with the reason in `err` when it cannot be.
  stream_type* create_stream(shard& sh, std::string_view name, error_code& err) {
    if (stream_type* s = sh.streams.find(name)) {
      return s;
    }
    err = error_code::invalid_stream_name;
    if (registry::valid_name(name)) {
      err = error_code::too_many_streams;
      if (n_streams_.fetch_add(1, std::memory_order_relaxed) < sh.options.max_streams) {
        const auto r = sh.streams.find_or_create(name, sh.options.make_pipeline);
        if (r.s != nullptr) {
          sh.fanout.stream_created(*r.s);
          return r.s;
        }
      }
      n_streams_.fetch_sub(1, std::memory_order_relaxed);
    }
    return nullptr;
  }

  // create_stream(), answering `c` when it fails.
  stream_type* find_or_create_stream(shard& sh, subscriber* c, std::string_view name, std::string_view id) {
    error_code err = error_code::invalid_stream_name;
    if (stream_type* s = create_stream(sh, name, err)) {
      return s;
    }
    reject(sh, c, nullptr, err,
           err == error_code::invalid_stream_name ? "stream names are 1 to 255 bytes of UTF-8"
                                                  : "the server's stream limit is reached",
           id);
    return nullptr;
  }

  // On the owner `sh`: `c` is the connection's record here when it lives here (nullptr for push()
  // from C++, or when it lives elsewhere: then `remote` is its peer and a record is made only to
  // answer). `cache`: the connection's last stream, when it lives here.
  void handle_push(shard& sh, subscriber* c, stream_type** cache, std::string_view name, const double* values,
                   std::size_t n, double t, std::string_view id, peer_type* remote = nullptr,
                   const producer_seq& origin = {}) {
    auto replies = [&]() -> subscriber* {
      if (c == nullptr && remote != nullptr) {
        c = &record_of(sh, remote->shared_from_this());
      }
      return c;
    };
    // Whole batch or nothing: check every sample before the first reaches the stream (protocol.hpp's
    // admission rule; the decoders already applied it, this covers push() from C++).
    request_error bad;
    if (!check_samples(values, n, t, bad)) {
      stream_type* s = sh.streams.find(name);
      reject(sh, replies(), s, bad.code, bad.message, id);
      return;
    }
    stream_type* s = nullptr;
    if (cache != nullptr && *cache != nullptr && (*cache)->name == name) {
      s = *cache;
    } else {
      s = sh.streams.find(name);
      if (s == nullptr) {
        s = find_or_create_stream(sh, replies(), name, id);
        if (s == nullptr) {
          return;
        }
      }
      if (cache != nullptr) {
        *cache = s;
      }
    }
    if (broker_) {
      // io_threads = 1: `c` lives here. The batch's time goes into the log with it, so that every
      // owner learns it with the same time.
      forward_to_broker(sh, c, s, values, n, std::isnan(t) ? now_seconds() : t, id, origin);
      return;
    }
    // A numbered push (producer id + seq): a retry of a batch already learnt is acknowledged, not
    // learnt again; a gap in the numbers is refused (producers.hpp).
    push_ack ack{n, origin.seq, origin.seq != 0, s->counters.count, false};
    if (origin.seq != 0) {
      if (!s->producers) {
        s->producers = std::make_unique<producer_memory>();
      }
      const producer_memory::result r = s->producers->check(origin);
      if (r.v == producer_memory::verdict::out_of_order) {
        reject_out_of_order(sh, replies(), s, r.expected, id);
        return;
      }
      if (r.v == producer_memory::verdict::duplicate) {
        send_ack(sh, replies(), s, push_ack{0, origin.seq, r.has_first, r.first, true}, id);
        return;
      }
      s->producers->record(origin, s->counters.count);
    }
    const double when = std::isnan(t) ? now_seconds() : t;
    sh.streams.push(*s, values, n, when, [&](std::uint64_t index, double x, const alert_info& a) {
      sh.fanout.alert(*s, index, x, when, a);
    });
    sh.n_samples.add(n);
    if (!id.empty() || origin.seq != 0) {
      send_ack(sh, replies(), s, ack, id);
    }
  }

  // The ack of a push: sent when it has an id, or is numbered (a.seq != 0; then with seq, first and
  // duplicate).
  void send_ack(shard& sh, subscriber* c, stream_type* s, const push_ack& a, std::string_view id) {
    if (c == nullptr || (id.empty() && a.seq == 0)) {
      return;
    }
    sh.out.clear();
    if (a.seq == 0) {
      write_ack(sh.out, s->name, a.accepted, id);
    } else {
      write_ack(sh.out, s->name, a, id);
    }
    sh.fanout.send_text(*c, sh.out);
  }

  void reject_out_of_order(shard& sh, subscriber* c, stream_type* s, std::uint64_t expected,
                           std::string_view id) {
    const std::string m = "seq skips numbers after this producer's last batch: resend from seq " +
                          std::to_string(expected) + ", in order";
    reject(sh, c, s, error_code::out_of_order, m, id);
  }

  // ---- the broker (issue 14, docs/scale-out.md; broker.hpp): io_threads = 1, on shard 0 ----------

  void start_broker() {
    if (options_.redis.url.empty() || broker_) {
      return;
    }
    if (!options_.make_broker) {
      throw std::runtime_error(
          "streamstats::websocket: redis.url is set but this server has no broker "
          "(server_options::make_broker; "
          "streamstats::redis)");
    }
    host_ = std::make_unique<broker_host_impl>(*this, *shards_[0]);
    broker_ = options_.make_broker(shards_[0]->io, *host_, options_.redis);
    broker_->start();
  }

  // A checked push to the broker: acknowledged (or refused) when Redis answers.
  void forward_to_broker(shard& sh, subscriber* c, stream_type* s, const double* values, std::size_t n,
                         double when, std::string_view id, const producer_seq& origin) {
    std::weak_ptr<peer_type> who;
    if (c != nullptr) {
      who = c->con;
    }
    const std::uint64_t seq = origin.seq;
    broker_->append(
        s->name, values, n, when, origin,
        [this, &sh, who, s, n, seq, has_con = c != nullptr, id = std::string(id)](const append_outcome& r) {
          const std::uint64_t added = r.ok && !r.duplicate ? n : 0;
          subscriber* cs = nullptr;
          if (has_con) {
            const auto p = who.lock();
            const auto it = p ? sh.connections.find(p->con.get()) : sh.connections.end();
            if (it == sh.connections.end()) {
              sh.n_samples.add(added);
              return;  // the producer has gone
            }
            cs = it->second.get();
          }
          if (!r.ok) {
            if (r.error == error_code::out_of_order) {
              reject_out_of_order(sh, cs, s, r.expected, id);
            } else {
              reject(sh, cs, s, r.error,
                     r.error == error_code::unavailable ? "the broker (Redis) did not acknowledge the push"
                                                        : "stream names for Redis may not contain { or }",
                     id);
            }
            return;
          }
          sh.n_samples.add(added);
          send_ack(sh, cs, s, push_ack{added, seq, r.has_first, r.first, r.duplicate}, id);
        });
  }

  // The server's streams as the broker sees them (those of shard `sh`, the only one).
  struct broker_host_impl final : broker_host {
    broker_host_impl(server_core& s, shard& owner) : self(s), sh(owner) {}
    server_core& self;
    shard& sh;

    bool ensure_stream(std::string_view name) override {
      error_code err = error_code::invalid_stream_name;
      return self.create_stream(sh, name, err) != nullptr;
    }
    void apply(std::string_view name, const double* v, std::size_t n, double t,
               std::vector<broker_alert>& alerts) override {
      error_code err = error_code::invalid_stream_name;
      stream_type* s = self.create_stream(sh, name, err);
      if (s == nullptr) {
        return;
      }
      const double when = std::isnan(t) ? now_seconds() : t;  // NaN: an entry logged without a time
      sh.streams.push(*s, v, n, when, [&](std::uint64_t index, double x, const alert_info& a) {
        alerts.push_back({index, x, a.z, a.score, when});
      });
    }
    bool save(std::string_view name, std::string& out) override {
      stream_type* s = sh.streams.find(name);
      if (s == nullptr || !s->pipe->supports_state()) {
        return false;
      }
      const stream_counters& k = s->counters;
      detail::put_le(out, k.count, 8);
      put_double(out, k.last);
      put_double(out, k.t);
      s->pipe->save_state(out);
      return true;
    }
    std::string load(std::string_view name, std::string_view bytes) override {
      if (bytes.size() < 24) {
        return "a stream state of " + std::to_string(bytes.size()) + " bytes";
      }
      stream_counters k;
      k.count = detail::get_le(bytes.data(), 8);
      k.last = get_double(bytes.data() + 8);
      k.t = get_double(bytes.data() + 16);
      if (const stream_type* old = sh.streams.find(name)) {
        k.rejected = old->counters.rejected;
      }
      std::unique_ptr<pipeline> pipe;
      try {
        pipe = sh.options.make_pipeline ? sh.options.make_pipeline(name) : nullptr;
        if (!pipe) {
          pipe = std::make_unique<default_pipeline>();
        }
        pipe->load_state(bytes.substr(24));
      } catch (const std::exception& e) {
        return e.what();
      }
      return self.restore_stream(sh, name, std::move(pipe), k) == nullptr ? "invalid stream name" : "";
    }
    void reset(std::string_view name) override {
      std::unique_ptr<pipeline> pipe;
      try {
        pipe = sh.options.make_pipeline ? sh.options.make_pipeline(name) : nullptr;
      } catch (...) {
        pipe = nullptr;
      }
      if (!pipe) {
        pipe = std::make_unique<default_pipeline>();
      }
      stream_counters k;
      if (const stream_type* old = sh.streams.find(name)) {
        k.rejected = old->counters.rejected;
      }
      self.restore_stream(sh, name, std::move(pipe), k);
    }
    void deliver_alert(std::string_view name, const broker_alert& a) override {
      if (stream_type* s = sh.streams.find(name)) {
        sh.fanout.alert(*s, a.index, a.value, a.t, alert_info{a.z, a.score});
      }
    }
    void log(std::string_view level, const std::string& message) override {
      if (sh.options.log) {
        sh.options.log(level, message);
      } else {
        std::fprintf(stderr, "streamstats: %.*s: %s\n", static_cast<int>(level.size()), level.data(),
                     message.c_str());
      }
    }

   private:
    static void put_double(std::string& out, double x) {
      std::uint64_t b = 0;
      std::memcpy(&b, &x, 8);
      detail::put_le(out, b, 8);
    }
    static double get_double(const char* p) {
      const std::uint64_t b = detail::get_le(p, 8);
      double x = 0.0;
      std::memcpy(&x, &b, 8);
      return x;
    }
  };

  // ---- replies gathered from every shard (io_threads > 1) -----------------------------------------

  struct list_gather {
    std::vector<list_entry> entries;
    std::size_t total = 0;
    std::size_t left = 0;
  };

  // `visible`: null, or the grant whose subscribe rights filter the list (a JWT without "*").
  void gather_list(shard& home, connection_state& c, std::string id,
                   std::shared_ptr<const access_grant> visible) {
    auto g = std::make_shared<list_gather>();
    g->left = shards_.size();
    const std::size_t cap = home.options.max_list_streams;
    peer_ptr p = c.con;
    // Each shard adds its streams; to the others the request goes through the handoff, behind what
    // this connection handed them before (so the reply counts every sample it sent).
    auto collect = [this, g, cap, p, id, visible, &home](shard& o) {
      std::vector<list_entry> part;
      std::size_t total = visible ? 0 : o.streams.size();
      o.streams.for_each([&](std::string_view name, const stream_type& s) {
        if (visible) {
          if (!visible->may_subscribe(name)) {
            return true;
          }
          ++total;
        }
        if (part.size() == cap) {
          return static_cast<bool>(visible);  // filtered: keep counting the total
        }
        part.push_back(
            {std::string(name), s.counters.count, s.counters.rejected, s.topic.subscribers.size()});
        return true;
      });
      asio::post(home.io, [this, g, cap, p, id, total, part = std::move(part), &home]() mutable {
        g->total += total;
        std::move(part.begin(), part.end(), std::back_inserter(g->entries));
        if (--g->left != 0) {
          return;
        }
        std::sort(g->entries.begin(), g->entries.end(),
                  [](const list_entry& a, const list_entry& b) { return a.name < b.name; });
        const auto it = home.connections.find(p->con.get());
        if (it == home.connections.end()) {
          return;  // closed meanwhile
        }
        home.out.clear();
        const list_totals totals{cap, rejected_total(), p->dropped.load(std::memory_order_relaxed),
                                 dropped_total()};
        write_list_entries(home.out, g->entries, g->total, totals, id);
        home.fanout.send_text(*it->second, home.out);
      });
    };
    for (auto& sh : shards_) {
      if (sh.get() == &home) {
        asio::post(home.io, [collect, &home]() mutable { collect(home); });
      } else {
        forward_op(home, *sh, p, collect);
      }
    }
  }

  // ---- HTTP --------------------------------------------------------------------------------------

  void on_http(shard& sh, const hdl_type& hdl) {
    connection_ptr con = sh.endpoint.get_con_from_hdl(hdl);
    const std::string& resource = con->get_resource();
    const std::string path = resource.substr(0, resource.find_first_of("?#"));
    if (path == "/metrics" && shards_.size() > 1) {
      gather_metrics_async(sh, con);
      return;
    }
    http_context ctx;
    ctx.document_root = &sh.options.document_root;
    // With a state directory, ready only once the checkpoint is restored; with a broker, only while
    // Redis is reachable. (Shard 0 owns the listening socket.)
    ctx.ready = listening_ && restored_ && !stopping_.load(std::memory_order_relaxed) &&
                (sh.index != 0 || sh.endpoint.is_listening()) && (!broker_ || broker_->ready());
    ctx.metrics = [this, &sh] {
      metrics_parts parts;
      add_metrics(sh, parts);
      return prometheus_text(finish_metrics(sh, parts));
    };
    answer(con, route_http(path, ctx));
  }

  static void answer(const connection_ptr& con, http_reply r) {
    con->set_status(static_cast<websocketpp::http::status_code::value>(r.status));
    con->append_header("Content-Type", r.content_type);
    for (const auto& [key, value] : r.headers) {
      con->append_header(key, value);
    }
    con->set_body(std::move(r.body));
  }

  // The reasons of auth_refused that /metrics always shows (auth.hpp), in this order.
  static constexpr std::array<const char*, 10> auth_reasons{
      "malformed",   "alg_mismatch", "bad_signature", "expired",       "not_yet_valid",
      "missing_exp", "bad_issuer",   "bad_audience",  "missing_token", "bad_token"};

  // Per-shard pieces of /metrics (each read on its shard's thread), with the stream names they own.
  struct metrics_parts {
    std::vector<std::string> names;
    std::vector<metrics_snapshot::stream> per_stream;  // names filled by finish_metrics
    std::array<std::uint64_t, 32> rejected_by_code{};
    std::array<std::uint64_t, auth_reasons.size()> auth_refused{};
    std::uint64_t token_expired = 0;
    std::array<std::uint64_t, 6> tls_failures{};
    std::size_t left = 0;
  };

  void add_metrics(shard& sh, metrics_parts& parts) const {
    for (std::size_t i = 0; i < parts.rejected_by_code.size(); ++i) {
      parts.rejected_by_code[i] += sh.rejected_by_code[i].get();
    }
    for (std::size_t i = 0; i < auth_reasons.size(); ++i) {
      const auto it = sh.auth_refused.find(std::string_view(auth_reasons[i]));
      parts.auth_refused[i] += it == sh.auth_refused.end() ? 0 : it->second;
    }
    parts.token_expired += sh.n_token_expired;
#if defined(STREAMSTATS_WEBSOCKET_TLS)
    for (std::size_t i = 0; i < parts.tls_failures.size(); ++i) {
      parts.tls_failures[i] += sh.tls_failures[i];
    }
#endif
    const double now = now_seconds();
    sh.streams.for_each([&](std::string_view name, const stream_type& s) {
      parts.names.emplace_back(name);
      parts.per_stream.push_back(
          {{}, s.counters.count, s.counters.rejected, s.topic.subscribers.size(), now - s.counters.t});
    });
  }

  // On `home`'s thread, once every shard's part is in: the snapshot prometheus_text() writes.
  metrics_snapshot finish_metrics(const shard& home, metrics_parts& parts) const {
    metrics_snapshot m;
    const server_stats st = stats();
    m.connections = st.connections;
    m.streams = st.streams;
    m.messages = st.messages;
    m.samples = st.samples;
    m.dropped = st.dropped;
    m.snapshots_sent = st.snapshots_sent;
    m.alerts_sent = st.alerts_sent;
    m.refused_handshakes = st.refused_handshakes;
    m.accept_failures = acceptor_->failures();
    if (checkpoints_) {
      const checkpoint_metrics& c = checkpoints_->metrics();
      m.checkpoints = true;
      m.checkpoints_written = c.written.load(std::memory_order_relaxed);
      m.checkpoints_failed = c.failed.load(std::memory_order_relaxed);
      m.checkpoint_last_duration_seconds =
          static_cast<double>(c.last_duration_ns.load(std::memory_order_relaxed)) * 1e-9;
      m.checkpoint_last_max_slice_seconds =
          static_cast<double>(c.last_max_slice_ns.load(std::memory_order_relaxed)) * 1e-9;
      m.checkpoint_last_bytes = c.last_bytes.load(std::memory_order_relaxed);
    }
    if (broker_) {
      m.redis = true;  // io_threads = 1: home is shard 0, the broker's thread
      m.redis_metrics = broker_->metrics();
    }
    for (std::size_t i = 0; i < parts.rejected_by_code.size(); ++i) {
      const auto code = static_cast<error_code>(i);
      if (to_string(code) != "unknown") {
        m.rejected_by_code.emplace_back(code, parts.rejected_by_code[i]);
      }
    }
    if (home.auth.jwt_enabled() || !home.options.producer_token.empty()) {
      for (std::size_t i = 0; i < auth_reasons.size(); ++i) {
        m.auth_refused.emplace_back(auth_reasons[i], parts.auth_refused[i]);
      }
      m.token_expired_closes = parts.token_expired;
    }
#if defined(STREAMSTATS_WEBSOCKET_TLS)
    if constexpr (is_tls_config<Config>) {
      m.tls = true;
      for (std::size_t i = 0; i < parts.tls_failures.size(); ++i) {
        m.tls_failures.emplace_back(to_string(static_cast<tls_failure>(i)), parts.tls_failures[i]);
      }
      m.tls_reloads = tls_->reloads();
      m.tls_certificate_not_after = tls_->info().not_after;
    }
#endif
    std::vector<std::size_t> order(parts.names.size());
    for (std::size_t i = 0; i < order.size(); ++i) {
      order[i] = i;
    }
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return parts.names[a] < parts.names[b]; });
    m.per_stream.reserve(order.size());
    for (const std::size_t i : order) {
      metrics_snapshot::stream s = parts.per_stream[i];
      s.name = parts.names[i];
      m.per_stream.push_back(s);
    }
    return m;
  }

  // /metrics with io_threads > 1: the reply waits (websocketpp's deferred HTTP response) while each
  // shard adds its streams and counters on its own thread.
  void gather_metrics_async(shard& home, const connection_ptr& con) {
    if (con->defer_http_response()) {
      return;
    }
    auto parts = std::make_shared<metrics_parts>();
    parts->left = shards_.size();
    for (auto& sh : shards_) {
      asio::post(sh->io, [this, parts, con, &home, &o = *sh] {
        auto mine = std::make_shared<metrics_parts>();
        add_metrics(o, *mine);
        asio::post(home.io, [this, parts, mine, con, &home] {
          for (std::size_t i = 0; i < parts->rejected_by_code.size(); ++i) {
            parts->rejected_by_code[i] += mine->rejected_by_code[i];
          }
          for (std::size_t i = 0; i < parts->auth_refused.size(); ++i) {
            parts->auth_refused[i] += mine->auth_refused[i];
          }
          parts->token_expired += mine->token_expired;
          for (std::size_t i = 0; i < parts->tls_failures.size(); ++i) {
            parts->tls_failures[i] += mine->tls_failures[i];
          }
          std::move(mine->names.begin(), mine->names.end(), std::back_inserter(parts->names));
          std::move(mine->per_stream.begin(), mine->per_stream.end(), std::back_inserter(parts->per_stream));
          if (--parts->left != 0) {
            return;
          }
          http_reply r;
          r.status = 200;
          r.content_type = "text/plain; version=0.0.4; charset=utf-8";
          r.body = prometheus_text(finish_metrics(home, *parts));
          r.headers.emplace_back("Cache-Control", "no-store");
          answer(con, std::move(r));
          std::error_code ec;
          con->send_http_response(ec);
        });
      });
    }
  }

  server_options options_;  // shard 0's view is shards_[0]->options; this is the public copy
#if defined(STREAMSTATS_WEBSOCKET_TLS)
  std::unique_ptr<tls_context_store> tls_;  // TLS servers only; every shard's endpoint reads it
#endif
  std::vector<std::unique_ptr<shard>> shards_;
  std::unique_ptr<acceptor<Config>> acceptor_;
  std::size_t next_home_ = 0;  // the acceptor's round robin (shard 0's thread)
  std::unique_ptr<asio::steady_timer> shutdown_timer_;
  std::unique_ptr<asio::signal_set> signals_;
  // After shards_: destroyed before the io_context (shard 0's) their timers and connections use.
  std::unique_ptr<checkpoint_runner> checkpoints_;  // null without state_dir
  std::unique_ptr<broker_host_impl> host_;          // with broker_
  std::unique_ptr<broker> broker_;                  // null without options_.redis.url
  bool restored_ = false;                           // the checkpoint (if any) is restored
  std::thread thread_;
  std::atomic<std::uint16_t> port_{0};
  bool listening_ = false;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> flushes_left_{0};
  std::atomic<std::size_t> n_streams_{0};  // every shard's, for max_streams

  // Handshakes: admitted and open connections of every shard (not on the hot path).
  std::mutex admission_mutex_;
  admission_table admissions_;
  std::size_t open_total_ = 0;
  relaxed_counter n_connections_;
  std::atomic<std::uint64_t> n_refused_{0};  // written by every shard's handshakes
};

}  // namespace streamstats::websocket::detail
