// streamstats::websocket core — the server's parts put together over one transport: the io loop,
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
// Threading: one io thread owns every socket and every stream; nothing on the hot path takes a
// lock. push(), stop() and reconfigure() post to the io thread; stats() reads relaxed atomics.
#pragma once

#include <streamstats/websocket/access.hpp>
#include <streamstats/websocket/auth.hpp>
#include <streamstats/websocket/broker.hpp>
#include <streamstats/websocket/checkpoint_runner.hpp>
#include <streamstats/websocket/connections.hpp>
#include <streamstats/websocket/dispatch.hpp>
#include <streamstats/websocket/fanout.hpp>
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
#include <map>
#include <memory>
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

template <typename Config>
class server_core final : public server_engine {
 public:
  explicit server_core(server_options options)
      : options_(std::move(options)),
        access_(options_.allowed_origins, options_.same_origin, options_.producer_token),
        auth_(auth_options_of(options_)),
        acceptor_(endpoint_, io_),
        tick_(io_),
        shutdown_timer_(io_),
        streams_(options_.max_streams),
        fanout_(link{}, options_.max_queued_bytes) {
    if (!options_.make_pipeline) {
      options_.make_pipeline = default_pipeline_factory();
    }
    endpoint_.init_asio(&io_);
    endpoint_.set_reuse_addr(true);
    endpoint_.set_max_message_size(options_.max_message_size);
    endpoint_.set_max_http_body_size(options_.max_message_size);
    endpoint_.set_close_handshake_timeout(static_cast<long>(options_.shutdown_timeout.count()));
    endpoint_.set_validate_handler([this](const hdl_type& h) { return on_validate(h); });
    endpoint_.set_open_handler([this](const hdl_type& h) { on_open(h); });
    endpoint_.set_close_handler([this](const hdl_type& h) { on_close(h); });
    endpoint_.set_fail_handler([this](const hdl_type& h) {
      on_fail(h);
      on_close(h);
    });
    endpoint_.set_http_handler([this](const hdl_type& h) { on_http(h); });
#if defined(STREAMSTATS_WEBSOCKET_TLS)
    if constexpr (is_tls_config<Config>) {
      // Throws tls_error (a missing file, a key that does not match): no server without its certificate.
      tls_ = std::make_unique<tls_context_store>(options_.tls);
      endpoint_.set_tls_init_handler([this](const hdl_type& /*h*/) { return tls_->current(); });
      // After accept, before the handshake: the context of now, not of when the connection was made.
      endpoint_.set_tcp_pre_init_handler([this](const hdl_type& h) {
        std::error_code ec;
        if (connection_ptr con = endpoint_.get_con_from_hdl(h, ec); !ec && con) {
          adopt_context(con->get_socket().native_handle(), tls_->current());
        }
      });
    }
#endif
  }

  ~server_core() override {
    if (thread_.joinable()) {
      stop();
      thread_.join();
    }
  }

  // ---- lifecycle (server's public API) -----------------------------------------------------------

  void listen() override {
    if (listening_) {
      return;
    }
    std::error_code ec;
    const auto addr = asio::ip::make_address(options_.address, ec);
    if (ec) {
      throw std::system_error(ec, "streamstats::websocket: bad listen address '" + options_.address + "'");
    }
    // The streams of the last checkpoint exist before the first connection can be accepted.
    restore_state();
    start_broker();
    endpoint_.listen(asio::ip::tcp::endpoint(addr, options_.port), ec);
    if (ec) {
      throw std::system_error(ec, "streamstats::websocket: cannot listen on " + options_.address + ":" +
                                      std::to_string(options_.port));
    }
    acceptor_.start();
    asio::error_code aec;
    const auto local = endpoint_.get_local_endpoint(aec);
    port_.store(aec ? options_.port : local.port(), std::memory_order_release);
    listening_ = true;
    schedule_tick();
    if (checkpoints_) {
      checkpoints_->every(options_.checkpoint_interval, [this] { begin_checkpoint(); });
    }
  }

  void run() override {
    listen();
    io_.run();
    final_checkpoint();
  }

  void start() override {
    listen();
    thread_ = std::thread([this] {
      io_.run();
      final_checkpoint();
    });
  }

  void join() override {
    if (thread_.joinable()) {
      thread_.join();
    }
  }

  void stop() override {
    asio::post(io_, [this] { do_stop(); });
  }

  void reconfigure(std::function<void(server_options&)> change) override {
    asio::post(io_, [this, change = std::move(change)] {
      change(options_);
      if (!options_.make_pipeline) {
        options_.make_pipeline = default_pipeline_factory();
      }
      streams_.set_max_streams(options_.max_streams);
      fanout_.set_max_queued_bytes(options_.max_queued_bytes);
      // The access rules are a copy of the options' (origins, same-origin, token): rebuilt, so a
      // reload applies to the next handshake.
      access_ = access_policy(options_.allowed_origins, options_.same_origin, options_.producer_token);
      auth_ = authenticator(auth_options_of(options_));
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
    signals_ = std::make_unique<asio::signal_set>(io_);
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
    s.streams = streams_.size();
    s.messages = n_messages_.get();
    s.samples = n_samples_.get();
    s.rejected = n_rejected_.get();
    const auto& f = fanout_.stats();
    s.dropped = f.dropped.get();
    s.snapshots_sent = f.snapshots.get();
    s.alerts_sent = f.alerts.get();
    s.refused_handshakes = n_refused_.get();
    s.peak_queued_bytes = f.peak_queued.get();
    return s;
  }

  void push(std::string stream, double value, double t) override {
    asio::post(io_, [this, stream = std::move(stream), value, t] {
      if (!stopping_) {
        handle_push(nullptr, stream, &value, 1, t, {});
      }
    });
  }

  void push(std::string stream, std::vector<double> values, double t) override {
    asio::post(io_, [this, stream = std::move(stream), values = std::move(values), t] {
      if (!stopping_) {
        handle_push(nullptr, stream, values.data(), values.size(), t, {});
      }
    });
  }

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
  using link = ws_link<Config>;
  using fanout_type = fanout<link>;
  using registry = typename fanout_type::registry;
  using stream_type = typename fanout_type::stream;

  struct connection_state : fanout_type::subscriber {
    bool authorized = false;
    access_grant grant;    // its rights and, for a JWT, when they end
    bool closing = false;  // closed for an expired token: nothing more is applied
    // Pushed or subscribed at least once (idle_timeout applies to the others).
    bool active = false;
    std::chrono::steady_clock::time_point opened{};
    std::string address;    // remote IP, for max_connections_per_address
    token_bucket messages;  // max_messages_per_second
    token_bucket queries;   // query_budget_per_second
    pong_budget<typename Config::message_type> pongs;
    // The last stream this connection pushed to: producers usually push to one stream, so this
    // saves the map lookup on the hot path.
    stream_type* last_stream = nullptr;
  };

  // dispatch.hpp's handler: the actions for one message of connection `c`.
  struct actions {
    server_core& self;
    connection_state& c;

    void invalid(const request& req, const request_error& err) {
      // The stream is known when the message got that far and names an existing stream.
      self.reject(&c, req.has_stream ? self.streams_.find(req.stream) : nullptr, err.code, err.message,
                  req.id);
    }
    void push(std::string_view name, const double* v, std::size_t n, double t, std::string_view id,
              const producer_seq& origin) {
      self.handle_push(&c, name, v, n, t, id, origin);
    }
    void list(const request& req) {
      if (!self.allowed(c)) {
        return;
      }
      if (self.spend_query(c, std::min(self.streams_.size(), self.options_.max_list_streams), req.id)) {
        self.out_.clear();
        const list_totals totals{self.options_.max_list_streams, self.n_rejected_.get(), c.dropped,
                                 self.fanout_.stats().dropped.get()};
        if (c.grant.subscribe_all || c.grant.may_subscribe_everything()) {
          write_list(self.out_, self.streams_, totals, req.id);
        } else {
          write_list(
              self.out_, self.streams_, totals, req.id,
              [this](std::string_view name) { return c.grant.may_subscribe(name); }, true);
        }
        self.fanout_.send_text(c, self.out_);
      }
    }
    void subscribe_all(const request& req) {
      if (!self.allowed(c)) {
        return;
      }
      if (!c.grant.subscribe_all && !c.grant.may_subscribe_everything()) {
        self.reject(&c, nullptr, error_code::forbidden, "subscribing to \"*\" needs a \"*\" subscribe right",
                    req.id);
        return;
      }
      if (self.spend_query(c, std::max<std::size_t>(1, self.streams_.size()), req.id)) {
        self.send_subscription_ack(c, req);  // the ack first, then the snapshots
        c.active = true;
        self.fanout_.subscribe_all(c, self.streams_);
      }
    }
    void unsubscribe_all(const request& req) {
      if (self.spend_query(c, std::max<std::size_t>(1, self.streams_.size()), req.id)) {
        self.send_subscription_ack(c, req);
        self.fanout_.unsubscribe_all(c);
      }
    }
    void on_stream(const request& req) {
      if (req.type != request_type::unsubscribe &&
          (!self.allowed(c) || (!c.grant.subscribe_all && !c.grant.may_subscribe(req.stream)))) {
        if (!c.closing) {
          self.reject(&c, nullptr, error_code::forbidden, "no subscribe right on this stream", req.id);
        }
        return;
      }
      stream_type* s = self.streams_.find(req.stream);
      if (s == nullptr) {
        self.reject(
            &c, nullptr,
            registry::valid_name(req.stream) ? error_code::unknown_stream : error_code::invalid_stream_name,
            "no such stream", req.id);
        return;
      }
      if (!self.spend_query(c, 1, req.id)) {
        return;
      }
      if (req.type == request_type::snapshot) {
        self.fanout_.send_snapshot(c, *s, req.id);
        return;
      }
      self.send_subscription_ack(c, req);
      if (req.type == request_type::subscribe) {
        c.active = true;
        self.fanout_.subscribe(c, *s);
      } else {
        self.fanout_.unsubscribe(c, *s);
      }
    }
  };

  // ---- timers and shutdown -----------------------------------------------------------------------

  void schedule_tick() {
    tick_.expires_after(options_.snapshot_interval);
    tick_.async_wait([this](const std::error_code& ec) { on_tick(ec); });
  }

  void on_tick(const std::error_code& ec) {
    if (ec || stopping_) {
      return;
    }
    flush_snapshots(false);
    if (expiring_ > 0) {
      const auto now = std::chrono::steady_clock::now();
      if (now - last_expiry_check_ >= std::chrono::milliseconds(250)) {
        last_expiry_check_ = now;
        close_expired();
      }
    }
    if (options_.idle_timeout.count() > 0) {
      const auto now = std::chrono::steady_clock::now();
      if (now - last_idle_check_ >= std::chrono::milliseconds(250)) {
        last_idle_check_ = now;
        close_idle();
      }
    }
    schedule_tick();
  }

  void flush_snapshots(bool final_flush) {
    for (auto& [key, c] : connections_) {
      fanout_.flush(*c, final_flush);
    }
  }

  void close_idle() {
    const auto deadline = std::chrono::steady_clock::now() - options_.idle_timeout;
    std::vector<connection_ptr> idle;
    for (auto& [key, c] : connections_) {
      if (!c->active && c->opened < deadline) {
        idle.push_back(c->con);
      }
    }
    for (const connection_ptr& con : idle) {
      std::error_code ec;
      con->close(websocketpp::close::status::policy_violation, "idle: no push or subscribe", ec);
    }
  }

  // Closes (4001) the connections whose token expired; they do nothing more meanwhile (allowed()).
  void close_expired() {
    const std::int64_t now = unix_now();
    std::vector<connection_state*> expired;
    for (auto& [key, c] : connections_) {
      if (!c->closing && now >= c->grant.expires_at) {
        expired.push_back(c.get());
      }
    }
    for (connection_state* c : expired) {
      expire(*c);
    }
  }

  void expire(connection_state& c) {
    c.closing = true;
    ++n_token_expired_;
    std::error_code ec;
    c.con->close(close_token_expired, "token expired", ec);
  }

  // Whether `c` may still act: false (and closed, 4001) once its token has expired, so nothing is
  // applied between the expiry and the next check of the tick.
  bool allowed(connection_state& c) {
    if (c.closing) {
      return false;
    }
    if (c.grant.expires() && unix_now() >= c.grant.expires_at) {
      expire(c);
      return false;
    }
    return true;
  }

  void do_stop() {
    if (stopping_) {
      return;
    }
    stopping_ = true;
    tick_.cancel();
    if (checkpoints_) {
      checkpoints_->cancel();  // the timer; the checkpoint at stop follows once the io loop is done
    }
    acceptor_.stop();
    if (broker_) {
      broker_->stop();  // leases given back; its connections close, so the io loop can end
    }
    if (signals_) {
      std::error_code ec;
      signals_->cancel(ec);
    }
    if (listening_) {
      // On the io thread: stop_listening() races with the accept handler otherwise.
      std::error_code ec;
      endpoint_.stop_listening(ec);
    }
    flush_snapshots(true);
    // Closed from a copy: the handlers that a close may trigger erase from connections_.
    for (const connection_ptr& con : open_connections()) {
      std::error_code ec;
      con->close(websocketpp::close::status::going_away, "server shutting down", ec);
    }
    // Clients that never answer the close handshake (or never read) are cut off after the timeout.
    shutdown_timer_.expires_after(options_.shutdown_timeout);
    shutdown_timer_.async_wait([this](const std::error_code& ec) {
      if (!ec) {
        for (const connection_ptr& con : open_connections()) {
          std::error_code cec;
          con->get_raw_socket().close(cec);
        }
      }
    });
    if (connections_.empty() && admissions_.pending() == 0) {
      shutdown_timer_.cancel();
    }
  }

  std::vector<connection_ptr> open_connections() const {
    std::vector<connection_ptr> open;
    open.reserve(connections_.size());
    for (const auto& [key, c] : connections_) {
      open.push_back(c->con);
    }
    return open;
  }

  // ---- checkpoints (issue 11; checkpoint_runner.hpp) ----------------------------------------------

  // Before listening: the streams of the newest valid checkpoint (damaged files and refused streams
  // are logged). Throws std::system_error when the state directory cannot be created.
  void restore_state() {
    if (!options_.state_dir.empty() && !checkpoints_) {
      checkpoints_ = std::make_unique<checkpoint_runner>(io_, options_.state_dir, options_.log);
      checkpoints_->restore(streams_, options_.make_pipeline,
                            [this](stream_type& s) { fanout_.stream_created(s); });
    }
    restored_ = true;
  }

  // Periodic, on the io thread: serialised in slices between io events, written by the writer thread.
  void begin_checkpoint() { checkpoints_->start(streams_); }

  // After the io loop has returned (no sample can arrive any more): every stream, synchronously.
  void final_checkpoint() {
    if (checkpoints_) {
      checkpoints_->finish(streams_);
    }
  }

  // ---- handshake and connections (transport → access) --------------------------------------------

  bool on_validate(const hdl_type& hdl) {
    connection_ptr con = endpoint_.get_con_from_hdl(hdl);
    auto refuse = [&](websocketpp::http::status_code::value status) {
      n_refused_.add();
      con->set_status(status);
      return false;
    };
    if (stopping_) {
      return refuse(websocketpp::http::status_code::service_unavailable);
    }
    const std::string& resource = con->get_resource();
    const std::string_view path = std::string_view(resource).substr(0, resource.find('?'));
    if (path != "/ws") {
      return refuse(websocketpp::http::status_code::not_found);
    }
    if (!access_.origin_allowed(con->get_request_header("Origin"), con->get_request_header("Host"),
                                is_tls_config<Config>)) {
      return refuse(websocketpp::http::status_code::forbidden);
    }
    auth_decision decision = auth_.decide(con->get_request_header("Authorization"), resource, unix_now());
    if (!decision.admitted) {
      ++auth_refused_[decision.refusal];
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
    switch (admissions_.admit(hdl, std::move(address), may_push, connections_.size(),
                              options_.max_connections, options_.max_connections_per_address,
                              std::move(decision.grant))) {
      case admission_table::verdict::admitted:
        return true;
      case admission_table::verdict::full:
        return refuse(websocketpp::http::status_code::service_unavailable);
      case admission_table::verdict::too_many_from_address:
        break;
    }
    return refuse(websocketpp::http::status_code::too_many_requests);
  }

  void on_open(const hdl_type& hdl) {
    connection_ptr con = endpoint_.get_con_from_hdl(hdl);
    admission_table::admission adm = admissions_.open(hdl);
    // Without TCP_NODELAY, Nagle + delayed ACK stall pipelined request/reply traffic by 40–50 ms.
    // (Here, not in the socket-init handler: the socket is open only now.)
    std::error_code ec;
    con->get_raw_socket().set_option(asio::ip::tcp::no_delay(true), ec);

    auto state = std::make_unique<connection_state>();
    state->con = con;
    state->authorized = adm.authorized;
    state->grant = std::move(adm.grant);
    if (state->grant.expires()) {
      ++expiring_;
    }
    state->address = std::move(adm.address);
    state->opened = std::chrono::steady_clock::now();
    state->messages.reset(options_.max_messages_per_second, state->opened);
    state->queries.reset(options_.query_budget_per_second, state->opened);
    connection_state* c = state.get();
    con->set_message_handler(
        [this, c](const hdl_type& /*h*/, const message_ptr& msg) { on_message(*c, msg); });
    con->set_ping_handler(
        [this, c](const hdl_type& /*h*/, const std::string& payload) { return on_ping(*c, payload); });
    connections_.emplace(con.get(), std::move(state));
    n_connections_.set(connections_.size());
    if (stopping_) {
      con->close(websocketpp::close::status::going_away, "server shutting down", ec);
    }
  }

  // The pong, sent by us rather than by websocketpp so that it counts against a bound: a client that
  // sends pings without reading the answers is closed (1008) instead of fed.
  bool on_ping(connection_state& c, const std::string& payload) {
    if (!c.pongs.fits(payload.size())) {
      std::error_code ec;
      c.con->close(websocketpp::close::status::policy_violation, "pings faster than pongs are read", ec);
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
    if (!c.con->send(msg)) {
      c.pongs.queued(msg, payload.size());
    }
    return false;
  }

  // A connection that failed before it opened: on a TLS server, a failed handshake is counted by
  // reason (tls.hpp's classify_tls_failure reads the connection's OpenSSL state).
  void on_fail(const hdl_type& hdl) {
#if defined(STREAMSTATS_WEBSOCKET_TLS)
    if constexpr (is_tls_config<Config>) {
      std::error_code ec;
      connection_ptr con = endpoint_.get_con_from_hdl(hdl, ec);
      if (ec || !con) {
        return;
      }
      namespace sock = websocketpp::transport::asio::socket;
      const std::error_code why = con->get_ec();
      if (why == sock::make_error_code(sock::error::tls_handshake_failed) ||
          why == sock::make_error_code(sock::error::tls_handshake_timeout)) {
        ++tls_failures_[static_cast<std::size_t>(classify_tls_failure(con->get_socket().native_handle()))];
      }
    }
#else
    (void)hdl;
#endif
  }

  void on_close(const hdl_type& hdl) {
    admissions_.forget(hdl);
    const auto sp = hdl.lock();
    const auto it = connections_.find(sp.get());
    if (it != connections_.end()) {
      connection_state* c = it->second.get();
      if (c->grant.expires()) {
        --expiring_;
      }
      fanout_.remove(*c);
      admissions_.release(c->address);
      connections_.erase(it);
      n_connections_.set(connections_.size());
    }
    if (stopping_ && connections_.empty() && admissions_.pending() == 0) {
      shutdown_timer_.cancel();
    }
  }

  // ---- incoming messages (→ dispatch) ------------------------------------------------------------

  void on_message(connection_state& c, const message_ptr& msg) {
    n_messages_.add();
    if (const double rate = options_.max_messages_per_second; rate > 0.0) {
      if (!c.messages.take(rate, 1.0, 1.0, std::chrono::steady_clock::now())) {
        reject(&c, nullptr, error_code::rate_limited, "too many messages per second");
        return;
      }
    }
    actions a{*this, c};
    if (msg->get_opcode() == websocketpp::frame::opcode::binary) {
      dispatch_binary(parser_, msg->get_payload(), a);
    } else {
      dispatch_text(parser_, msg->get_payload(), a);
    }
  }

  // Draws `cost` from the connection's query budget (query_budget_per_second); false, with error
  // rate_limited sent, when the budget does not cover it. A request may cost more than a full bucket
  // (a list capped at max_list_streams, a "*" over many streams): it is allowed on a full bucket and
  // leaves the bucket in debt.
  bool spend_query(connection_state& c, std::size_t cost, std::string_view id) {
    const double rate = options_.query_budget_per_second;
    if (rate <= 0.0) {
      return true;
    }
    const auto cst = static_cast<double>(cost);
    if (!c.queries.take(rate, std::min(cst, rate), cst, std::chrono::steady_clock::now())) {
      reject(&c, nullptr, error_code::rate_limited, "over the query budget (list, snapshot, subscribe)", id);
      return false;
    }
    return true;
  }

  void send_subscription_ack(connection_state& c, const request& req) {
    out_.clear();
    write_subscription_ack(out_, req);
    fanout_.send_text(c, out_);
  }

  void reject(connection_state* c, stream_type* s, error_code code, std::string_view message,
              std::string_view id = {}) {
    n_rejected_.add();
    if (const auto i = static_cast<std::size_t>(code); i < rejected_by_code_.size()) {
      ++rejected_by_code_[i];
    }
    // A stream's "rejected" is what its producers got wrong: a connection that may not push (a server
    // with a producer token, an anonymous client) cannot raise it.
    if (s != nullptr && (c == nullptr || c->authorized)) {
      registry::count_rejected(*s);
    }
    if (c == nullptr) {
      return;
    }
    out_.clear();
    write_error(out_, code, message, id);
    fanout_.send_text(*c, out_);
  }

  // ---- the push path (→ registry → fan-out) ------------------------------------------------------

  stream_type* find_or_create_stream(connection_state* c, std::string_view name, std::string_view id) {
    if (c != nullptr && c->last_stream != nullptr && c->last_stream->name == name) {
      return c->last_stream;
    }
    const auto r = streams_.find_or_create(name, options_.make_pipeline);
    if (r.s == nullptr) {
      reject(c, nullptr, r.error,
             r.error == error_code::invalid_stream_name ? "stream names are 1 to 255 bytes of UTF-8"
                                                        : "the server's stream limit is reached",
             id);
      return nullptr;
    }
    if (r.created) {
      fanout_.stream_created(*r.s);
    }
    if (c != nullptr) {
      c->last_stream = r.s;
    }
    return r.s;
  }

  void handle_push(connection_state* c, std::string_view name, const double* values, std::size_t n, double t,
                   std::string_view id, const producer_seq& origin = {}) {
    if (c != nullptr && !c->authorized) {
      reject(c, nullptr, error_code::unauthorized, "pushing requires the producer token", id);
      return;
    }
    if (c != nullptr && !c->grant.publish_all) {
      // A JWT's rights: checked unless this is the stream it pushed to last (already allowed).
      if (!allowed(*c)) {
        return;
      }
      if ((c->last_stream == nullptr || c->last_stream->name != name) && !c->grant.may_publish(name)) {
        reject(c, nullptr, error_code::forbidden, "no publish right on this stream", id);
        return;
      }
    }
    if (c != nullptr) {
      c->active = true;
    }
    // Whole batch or nothing: check every sample before the first reaches the stream (protocol.hpp's
    // admission rule; the decoders already applied it, this covers push() from C++).
    request_error bad;
    if (!check_samples(values, n, t, bad)) {
      reject(c, streams_.find(name), bad.code, bad.message, id);
      return;
    }
    stream_type* s = find_or_create_stream(c, name, id);
    if (s == nullptr) {
      return;
    }
    if (broker_) {
      forward_push(c, s, values, n, id, origin);
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
        reject_out_of_order(c, s, r.expected, id);
        return;
      }
      if (r.v == producer_memory::verdict::duplicate) {
        send_ack(c, s, push_ack{0, origin.seq, r.has_first, r.first, true}, id);
        return;
      }
      s->producers->record(origin, s->counters.count);
    }
    const double when = std::isnan(t) ? now_seconds() : t;
    streams_.push(*s, values, n, when, [&](std::uint64_t index, double x, const alert_info& a) {
      fanout_.alert(*s, index, x, when, a);
    });
    n_samples_.add(n);
    send_ack(c, s, ack, id);
  }

  // The ack of a push: sent when it has an id, or is numbered (a.seq != 0; then with seq, first and
  // duplicate).
  void send_ack(connection_state* c, stream_type* s, const push_ack& a, std::string_view id) {
    if (c == nullptr || (id.empty() && a.seq == 0)) {
      return;
    }
    out_.clear();
    if (a.seq == 0) {
      write_ack(out_, s->name, a.accepted, id);
    } else {
      write_ack(out_, s->name, a, id);
    }
    fanout_.send_text(*c, out_);
  }

  void reject_out_of_order(connection_state* c, stream_type* s, std::uint64_t expected, std::string_view id) {
    const std::string m = "seq skips numbers after this producer's last batch: resend from seq " +
                          std::to_string(expected) + ", in order";
    reject(c, s, error_code::out_of_order, m, id);
  }

  // ---- the broker (issue 14, docs/scale-out.md; broker.hpp) -------------------------------------

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
    broker_ = options_.make_broker(io_, host_, options_.redis);
    broker_->start();
  }

  // A checked push to the broker: acknowledged (or refused) when Redis answers.
  void forward_push(connection_state* c, stream_type* s, const double* values, std::size_t n,
                    std::string_view id, const producer_seq& origin) {
    std::weak_ptr<typename connection_ptr::element_type> who;
    if (c != nullptr) {
      who = c->con;
    }
    const std::uint64_t seq = origin.seq;
    broker_->append(
        s->name, values, n, origin,
        [this, who, s, n, seq, has_con = c != nullptr, id = std::string(id)](const append_outcome& r) {
          const std::uint64_t added = r.ok && !r.duplicate ? n : 0;
          connection_state* cs = nullptr;
          if (has_con) {
            const auto sp = who.lock();
            const auto it = sp ? connections_.find(sp.get()) : connections_.end();
            if (it == connections_.end()) {
              n_samples_.add(added);
              return;  // the producer has gone
            }
            cs = it->second.get();
          }
          if (!r.ok) {
            if (r.error == error_code::out_of_order) {
              reject_out_of_order(cs, s, r.expected, id);
            } else {
              reject(cs, s, r.error,
                     r.error == error_code::unavailable ? "the broker (Redis) did not acknowledge the push"
                                                        : "stream names for Redis may not contain { or }",
                     id);
            }
            return;
          }
          n_samples_.add(added);
          send_ack(cs, s, push_ack{added, seq, r.has_first, r.first, r.duplicate}, id);
        });
  }

  // The server's streams as the broker sees them.
  struct broker_host_impl final : broker_host {
    explicit broker_host_impl(server_core& s) : self(s) {}
    server_core& self;

    bool ensure_stream(std::string_view name) override {
      const auto r = self.streams_.find_or_create(name, self.options_.make_pipeline);
      if (r.created) {
        self.fanout_.stream_created(*r.s);
      }
      return r.s != nullptr;
    }
    void apply(std::string_view name, const double* v, std::size_t n,
               std::vector<broker_alert>& alerts) override {
      stream_type* s = self.streams_.find(name);
      if (s == nullptr) {
        if (!ensure_stream(name)) {
          return;
        }
        s = self.streams_.find(name);
      }
      const double when = now_seconds();
      self.streams_.push(*s, v, n, when, [&](std::uint64_t index, double x, const alert_info& a) {
        alerts.push_back({index, x, a.z, a.score, when});
      });
    }
    bool save(std::string_view name, std::string& out) override {
      stream_type* s = self.streams_.find(name);
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
      stream_type* old = self.streams_.find(name);
      if (old != nullptr) {
        k.rejected = old->counters.rejected;
      }
      std::unique_ptr<pipeline> pipe;
      try {
        pipe = self.options_.make_pipeline ? self.options_.make_pipeline(name) : nullptr;
        if (!pipe) {
          pipe = std::make_unique<default_pipeline>();
        }
        pipe->load_state(bytes.substr(24));
      } catch (const std::exception& e) {
        return e.what();
      }
      stream_type* s = self.streams_.restore(name, std::move(pipe), k);
      if (s != nullptr && old == nullptr) {
        self.fanout_.stream_created(*s);
      }
      return s == nullptr ? "invalid stream name" : "";
    }
    void reset(std::string_view name) override {
      std::unique_ptr<pipeline> pipe;
      try {
        pipe = self.options_.make_pipeline ? self.options_.make_pipeline(name) : nullptr;
      } catch (...) {
        pipe = nullptr;
      }
      if (!pipe) {
        pipe = std::make_unique<default_pipeline>();
      }
      stream_type* old = self.streams_.find(name);
      stream_counters k;
      if (old != nullptr) {
        k.rejected = old->counters.rejected;
      }
      stream_type* s = self.streams_.restore(name, std::move(pipe), k);
      if (s != nullptr && old == nullptr) {
        self.fanout_.stream_created(*s);
      }
    }
    void deliver_alert(std::string_view name, const broker_alert& a) override {
      if (stream_type* s = self.streams_.find(name)) {
        self.fanout_.alert(*s, a.index, a.value, a.t, alert_info{a.z, a.score});
      }
    }
    void log(std::string_view level, const std::string& message) override {
      if (self.options_.log) {
        self.options_.log(level, message);
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

  // ---- HTTP --------------------------------------------------------------------------------------

  void on_http(const hdl_type& hdl) {
    connection_ptr con = endpoint_.get_con_from_hdl(hdl);
    const std::string& resource = con->get_resource();
    const std::string path = resource.substr(0, resource.find_first_of("?#"));
    http_context ctx;
    ctx.document_root = &options_.document_root;
    // With a state directory, ready only once the checkpoint is restored.
    // With a broker, ready only while Redis is reachable.
    ctx.ready =
        listening_ && restored_ && !stopping_ && endpoint_.is_listening() && (!broker_ || broker_->ready());
    ctx.metrics = [this] { return prometheus_text(gather_metrics()); };
    http_reply r = route_http(path, ctx);
    con->set_status(static_cast<websocketpp::http::status_code::value>(r.status));
    con->append_header("Content-Type", r.content_type);
    for (const auto& [key, value] : r.headers) {
      con->append_header(key, value);
    }
    con->set_body(std::move(r.body));
  }

  [[nodiscard]] metrics_snapshot gather_metrics() const {
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
    m.accept_failures = acceptor_.failures();
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
      m.redis = true;
      m.redis_metrics = broker_->metrics();
    }
    for (std::size_t i = 0; i < rejected_by_code_.size(); ++i) {
      const auto code = static_cast<error_code>(i);
      if (to_string(code) != "unknown") {
        m.rejected_by_code.emplace_back(code, rejected_by_code_[i]);
      }
    }
    if (auth_.jwt_enabled() || !options_.producer_token.empty()) {
      for (const char* reason : {"malformed", "alg_mismatch", "bad_signature", "expired", "not_yet_valid",
                                 "missing_exp", "bad_issuer", "bad_audience", "missing_token", "bad_token"}) {
        const auto it = auth_refused_.find(reason);
        m.auth_refused.emplace_back(reason, it == auth_refused_.end() ? 0 : it->second);
      }
      m.token_expired_closes = n_token_expired_;
    }
#if defined(STREAMSTATS_WEBSOCKET_TLS)
    if constexpr (is_tls_config<Config>) {
      m.tls = true;
      for (std::size_t i = 0; i < tls_failures_.size(); ++i) {
        m.tls_failures.emplace_back(to_string(static_cast<tls_failure>(i)), tls_failures_[i]);
      }
      m.tls_reloads = tls_->reloads();
      m.tls_certificate_not_after = tls_->info().not_after;
    }
#endif
    const double now = now_seconds();
    m.per_stream.reserve(streams_.size());
    streams_.for_each([&](std::string_view name, const auto& s) {
      m.per_stream.push_back(
          {name, s.counters.count, s.counters.rejected, s.topic.subscribers.size(), now - s.counters.t});
    });
    return m;
  }

  server_options options_;
  access_policy access_;
  authenticator auth_;
#if defined(STREAMSTATS_WEBSOCKET_TLS)
  std::unique_ptr<tls_context_store> tls_;       // TLS servers only
  std::array<std::uint64_t, 6> tls_failures_{};  // by tls_failure
#endif
  // Handshakes refused by auth, by reason; connections closed for an expired token; open
  // connections whose grant expires (the tick looks for expired ones only while there are any).
  std::map<std::string, std::uint64_t, std::less<>> auth_refused_;
  std::uint64_t n_token_expired_ = 0;
  std::size_t expiring_ = 0;
  std::chrono::steady_clock::time_point last_expiry_check_{};
  asio::io_context io_;
  endpoint_type endpoint_;
  acceptor<Config> acceptor_;
  asio::steady_timer tick_;
  std::chrono::steady_clock::time_point last_idle_check_{};
  asio::steady_timer shutdown_timer_;
  std::unique_ptr<asio::signal_set> signals_;
  std::unique_ptr<checkpoint_runner> checkpoints_;  // null without state_dir
  broker_host_impl host_{*this};
  std::unique_ptr<broker> broker_;  // null without options_.redis.url
  bool restored_ = false;           // the checkpoint (if any) is restored
  std::thread thread_;
  std::atomic<std::uint16_t> port_{0};
  bool listening_ = false;
  bool stopping_ = false;

  request_parser parser_;
  std::string out_;  // reused reply buffer
  registry streams_;
  fanout_type fanout_;
  admission_table admissions_;
  // Open connections, owned here: websocketpp keeps no list of its connections, and a graceful stop
  // must close them all.
  std::unordered_map<const void*, std::unique_ptr<connection_state>> connections_;

  // Rejections by error code (the code's value is the index), for /metrics; io thread only.
  std::array<std::uint64_t, 32> rejected_by_code_{};
  relaxed_counter n_connections_, n_messages_, n_samples_, n_rejected_, n_refused_;
};

}  // namespace streamstats::websocket::detail
