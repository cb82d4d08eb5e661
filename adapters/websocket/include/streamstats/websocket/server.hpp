// streamstats::websocket — a WebSocket server that binds named streams to accumulator pipelines.
// SPDX-License-Identifier: MIT
//
// Producers push samples (JSON text or binary float64 frames), subscribers receive throttled
// snapshots and immediate alerts. The wire protocol is specified in docs/protocol.md, the C++ API
// in docs/websocket.md.
//
// Threading: one io thread (the one in run(), or the one start() launches) owns every socket and
// every stream; nothing on the hot path takes a lock. push(), stop() and stats() may be called from
// any thread: push() and stop() post to the io thread, stats() reads relaxed atomics.
#pragma once

#include <streamstats/websocket/access.hpp>
#include <streamstats/websocket/http.hpp>
#include <streamstats/websocket/json_writer.hpp>
#include <streamstats/websocket/metrics.hpp>
#include <streamstats/websocket/pipeline.hpp>
#include <streamstats/websocket/protocol.hpp>
#include <streamstats/websocket/transport.hpp>

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <deque>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace streamstats::websocket {

struct server_options {
  // Address and port to listen on; port 0 picks a free (ephemeral) port, see server::port().
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;
  // Subscribers get at most one snapshot per stream per interval (coalesced: newer replaces older).
  std::chrono::milliseconds snapshot_interval{100};
  // Largest accepted WebSocket message; a bigger one closes the connection with 1009.
  // (websocketpp's own default is 32 MB.)
  std::size_t max_message_size = std::size_t(1) << 20;
  // Handshakes beyond this many open connections are refused with HTTP 503.
  std::size_t max_connections = 1024;
  // Handshakes beyond this many open connections from one IP address are refused with HTTP 429, so
  // that one client cannot hold every slot (an eighth of max_connections' default); 0 = no
  // per-address limit. Behind a reverse proxy every client has the proxy's address: raise it or
  // set 0 there. (Added with issue 9.)
  std::size_t max_connections_per_address = 128;
  // A connection that has neither pushed nor subscribed this long after its handshake is closed
  // with 1008 (policy violation), so idle sockets do not hold slots; 0 = never. (Issue 9.)
  std::chrono::milliseconds idle_timeout{30000};
  // A push that would create more streams than this gets error too_many_streams.
  std::size_t max_streams = 1024;
  // Per connection: while more than this many bytes wait in its send queue, snapshots are held
  // back (coalesced) and alerts and replies are dropped and counted, so a stalled reader costs at
  // most this much memory and never slows producers or other subscribers.
  std::size_t max_queued_bytes = std::size_t(1) << 20;
  // Allowed values of the Origin header (exact match, e.g. "http://localhost:8080"); empty allows
  // every origin. A handshake without Origin (non-browser clients) is always allowed.
  std::vector<std::string> allowed_origins;
  // When true, a browser (a handshake with Origin) may connect only from a page served by this
  // server (Origin's host[:port] equals the Host header) or from one of allowed_origins; other web
  // pages get HTTP 403. (Issue 9; dashboard_server turns it on.)
  bool same_origin = false;
  // When not empty, pushing requires this token at the handshake ("Authorization: Bearer <token>"
  // or "?token=<token>" in the URL). Subscribing, snapshots and list stay anonymous.
  std::string producer_token;
  // Per connection limit on client messages per second (token bucket, burst = one second's
  // worth); 0 = unlimited. Excess messages get error rate_limited.
  double max_messages_per_second = 0.0;
  // Per connection budget, per second, of the requests whose reply grows with the number of
  // streams: each stream written in a reply costs 1 (list: one per stream listed; subscribe or
  // unsubscribe "*": one per stream; snapshot, subscribe, unsubscribe of one stream: 1). Token
  // bucket, burst = one second's worth; a request over budget gets error rate_limited and costs
  // nothing. 0 = unlimited. Pushes never draw on it. (Issue 9: a flood of {"type":"list"} on a
  // server with 1024 streams pinned the io thread and starved every other client.)
  double query_budget_per_second = 2048.0;
  // A "list" reply names at most this many streams (in name order), with "total" and
  // "truncated": true when there are more. (Issue 9.)
  std::size_t max_list_streams = 256;
  // Directory served over HTTP GET on the same port ("/" → index.html); empty = no HTTP files.
  std::string document_root;
  // After stop(): how long clients get to answer the close handshake before their sockets are closed.
  std::chrono::milliseconds shutdown_timeout{2000};
  // Chooses the pipeline of each new stream by name; empty = default_pipeline for every stream.
  pipeline_factory make_pipeline;
};

// Counters since start, readable from any thread (each one is exact; they are not a consistent
// snapshot of one instant).
struct server_stats {
  std::uint64_t connections = 0;         // open WebSocket connections now
  std::uint64_t streams = 0;             // streams that exist now
  std::uint64_t messages = 0;            // client frames received
  std::uint64_t samples = 0;             // samples accepted into streams
  std::uint64_t rejected = 0;            // requests answered with an error (all codes)
  std::uint64_t dropped = 0;             // outgoing messages dropped for back-pressure (all connections)
  std::uint64_t snapshots_sent = 0;      // snapshot messages sent
  std::uint64_t alerts_sent = 0;         // alert messages sent (one per subscriber)
  std::uint64_t refused_handshakes = 0;  // Origin, max_connections or wrong path
  // The largest send queue (bytes) of any connection seen at a snapshot tick: stays near
  // max_queued_bytes however slow a reader is, since nothing is queued past that bound.
  std::uint64_t peak_queued_bytes = 0;
};

class server {
 public:
  explicit server(server_options options = {});
  server(const server&) = delete;
  server& operator=(const server&) = delete;
  server(server&&) = delete;
  server& operator=(server&&) = delete;
  // Stops (if running) and joins the thread of start().
  ~server();

  // Binds and listens (idempotent); throws std::system_error when the address cannot be bound.
  // After it, port() is the bound port.
  void listen();
  // listen(), then runs the io loop on the calling thread until stop() completes.
  void run();
  // listen(), then run() on a background thread; returns once port() is valid.
  void start();
  // Graceful shutdown, from any thread: stop accepting, send every subscriber a final snapshot of
  // each subscribed stream, close every connection with 1001 (going away), and let run() return
  // once they are closed (or after shutdown_timeout). Idempotent.
  void stop();
  // Makes stop() run when one of these signals arrives (asio::signal_set: the handler runs on the
  // io thread, not in signal context). Call before run()/start().
  void stop_on_signals(std::initializer_list<int> signals = {SIGINT, SIGTERM});
  // Joins the thread of start() (after stop()).
  void join();
  // Changes the options without a restart, from any thread: `change` runs on the io thread between
  // two events (posted, like push()), so no open connection is touched. It takes effect for what is
  // read per event: make_pipeline (streams created afterwards; existing streams keep their
  // pipeline), max_messages_per_second, allowed_origins and producer_token (new handshakes),
  // max_connections, max_streams, max_queued_bytes, snapshot_interval (from the next tick),
  // document_root. address, port, max_message_size and shutdown_timeout are applied once, at
  // construction: changing them here has no effect. (streamstatsd's SIGHUP reload goes through this.)
  void reconfigure(std::function<void(server_options&)> change);

  // The bound port (0 before listen()).
  [[nodiscard]] std::uint16_t port() const noexcept { return port_.load(std::memory_order_acquire); }
  [[nodiscard]] server_stats stats() const noexcept;
  // The options (read them on the io thread, or while no reconfigure() can run).
  [[nodiscard]] const server_options& options() const noexcept { return options_; }

  // Injects samples from C++ (thread-safe: posted to the io thread, in order per calling thread).
  // `t` is the Unix time in seconds of the (first) sample; NaN = time of arrival. Non-finite
  // samples are rejected and counted as over the wire. Streams are created as by a push message.
  void push(std::string stream, double value, double t = std::nan(""));
  void push(std::string stream, std::vector<double> values, double t = std::nan(""));

 private:
  using config = detail::plain_config;
  using endpoint_type = websocketpp::server<config>;
  using connection_ptr = endpoint_type::connection_ptr;
  using message_ptr = endpoint_type::message_ptr;
  using hdl_type = websocketpp::connection_hdl;

  struct connection_state;

  struct stream_state {
    std::string name;
    std::unique_ptr<pipeline> pipe;
    std::uint64_t count = 0;
    std::uint64_t rejected = 0;
    double last = std::nan("");
    double t = std::nan("");
    std::uint64_t version = 1;  // bumped when count or rejected changes
    std::uint64_t cached_version = 0;
    message_ptr cached;  // the snapshot message of cached_version (shared by every subscriber)
    std::vector<connection_state*> subscribers;
  };

  struct subscription {
    stream_state* stream = nullptr;
    std::uint64_t sent_version = 0;     // the version this subscriber has
    std::uint64_t pending_version = 0;  // a version held back by back-pressure, 0 = none
  };

  struct connection_state {
    connection_ptr con;
    bool authorized = false;
    bool wildcard = false;
    // Pushed or subscribed at least once (idle_timeout applies to the others).
    bool active = false;
    std::chrono::steady_clock::time_point opened{};
    std::string address;  // remote IP, for max_connections_per_address
    double query_tokens = 0.0;
    std::chrono::steady_clock::time_point query_refill{};
    // Pongs queued and not yet written, oldest first, with what each costs: websocketpp answers
    // every ping outside our send-queue bound, so we answer them ourselves and keep this in bound.
    std::deque<std::pair<std::weak_ptr<config::message_type>, std::size_t>> pongs;
    std::size_t pong_bytes = 0;
    std::vector<subscription> subs;
    std::uint64_t dropped = 0;
    double tokens = 0.0;
    std::chrono::steady_clock::time_point refill{};
    // The last stream this connection pushed to: producers usually push to one stream, so this
    // saves the map lookup on the hot path.
    stream_state* last_stream = nullptr;
  };

  // ---- setup ---------------------------------------------------------------------------------
  void on_tick(const std::error_code& ec);
  void schedule_tick();
  bool on_validate(const hdl_type& hdl);
  void on_open(const hdl_type& hdl);
  bool on_ping(connection_state& c, const std::string& payload);
  void close_idle();
  bool spend_query(connection_state& c, std::size_t cost, std::string_view id);
  void release_address(const std::string& address);
  void on_close(const hdl_type& hdl);
  void on_http(const hdl_type& hdl);
  void on_message(connection_state& c, const message_ptr& msg);
  void do_stop();
  void force_close();

  // ---- requests ------------------------------------------------------------------------------
  void on_text(connection_state& c, std::string_view payload);
  void on_binary(connection_state& c, std::string_view payload);
  void handle_push(connection_state* c, std::string_view name, const double* values, std::size_t n, double t,
                   std::string_view id);
  stream_state* find_stream(std::string_view name);
  stream_state* find_or_create_stream(connection_state* c, std::string_view name, std::string_view id);
  void reject(connection_state* c, stream_state* s, error_code code, std::string_view message,
              std::string_view id = {});
  void subscribe(connection_state& c, stream_state& s, bool immediate = true);
  static void unsubscribe(connection_state& c, stream_state& s);
  void reply_list(connection_state& c, std::string_view id);
  void send_subscription_ack(connection_state& c, const request& req);

  // ---- outgoing ------------------------------------------------------------------------------
  bool send_text(connection_state& c, std::string_view payload);
  bool send_prepared(connection_state& c, const message_ptr& msg);
  static message_ptr prepare(std::string_view payload);
  const message_ptr& snapshot_message(stream_state& s);
  static void write_snapshot(stream_state& s, std::string& out, std::string_view id);
  void flush_snapshots(bool final_flush);
  void send_alert(stream_state& s, std::uint64_t index, double value, double t, const alert_info& a);

  static void bump(std::atomic<std::uint64_t>& a, std::uint64_t n = 1) noexcept {
    // Only the io thread writes: a plain load + store, no locked read-modify-write on the hot path.
    a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  // The arrival time of samples sent without "t". Linux's coarse real-time clock (resolution of a
  // scheduler tick, 1–4 ms) costs ~3 ns against ~24 ns for CLOCK_REALTIME on the test machine,
  // which was 4–8 % of the server's time per one-sample JSON message; producers that need
  // precise times send "t".
  static double now_seconds() noexcept {
#if defined(CLOCK_REALTIME_COARSE)
    timespec ts{};
    if (clock_gettime(CLOCK_REALTIME_COARSE, &ts) == 0) {
      return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
    }
#endif
    using namespace std::chrono;
    return duration<double>(system_clock::now().time_since_epoch()).count();
  }
  static bool valid_utf8_name(std::string_view name) noexcept {
    return !name.empty() && name.size() <= max_stream_name_bytes &&
           simdjson::validate_utf8(name.data(), name.size());
  }

  server_options options_;
  access_policy access_;
  asio::io_context io_;
  endpoint_type endpoint_;
  detail::acceptor<config> acceptor_;
  asio::steady_timer tick_;
  std::chrono::steady_clock::time_point last_idle_check_{};
  asio::steady_timer shutdown_timer_;
  std::unique_ptr<asio::signal_set> signals_;
  std::thread thread_;
  std::atomic<std::uint16_t> port_{0};
  bool listening_ = false;
  bool stopping_ = false;

  request_parser parser_;
  std::string out_;  // reused reply buffer
  std::map<std::string, std::unique_ptr<stream_state>, std::less<>> streams_;
  // Connections: admitted by the handshake (not yet open), and open ones (owned here, because
  // websocketpp keeps no list of its connections and a graceful stop must close them all).
  struct admission {
    bool authorized = false;
    std::string address;
  };
  std::map<hdl_type, admission, std::owner_less<hdl_type>> admitted_;
  std::unordered_map<std::string, std::size_t> per_address_;  // admitted + open, by remote IP
  std::unordered_map<const void*, std::unique_ptr<connection_state>> connections_;
  std::vector<connection_state*> wildcard_;

  // Rejections by error code (the code's value is the index), for /metrics; io thread only.
  std::array<std::uint64_t, 32> rejected_by_code_{};
  [[nodiscard]] metrics_snapshot gather_metrics() const;
  std::atomic<std::uint64_t> n_connections_{0}, n_streams_{0}, n_messages_{0}, n_samples_{0}, n_rejected_{0},
      n_dropped_{0}, n_snapshots_{0}, n_alerts_{0}, n_refused_{0}, n_peak_queued_{0};
};

// ================================================================================================
// Implementation (header-only: every member below is implicitly or explicitly inline).

inline server::server(server_options options)
    : options_(std::move(options)),
      access_(options_.allowed_origins, options_.same_origin, options_.producer_token),
      acceptor_(endpoint_, io_),
      tick_(io_),
      shutdown_timer_(io_) {
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
  endpoint_.set_fail_handler([this](const hdl_type& h) { on_close(h); });
  endpoint_.set_http_handler([this](const hdl_type& h) { on_http(h); });
}

inline server::~server() {
  if (thread_.joinable()) {
    stop();
    thread_.join();
  }
}

inline void server::listen() {
  if (listening_) {
    return;
  }
  std::error_code ec;
  const auto addr = asio::ip::make_address(options_.address, ec);
  if (ec) {
    throw std::system_error(ec, "streamstats::websocket: bad listen address '" + options_.address + "'");
  }
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
}

inline void server::run() {
  listen();
  io_.run();
}

inline void server::start() {
  listen();
  thread_ = std::thread([this] { io_.run(); });
}

inline void server::join() {
  if (thread_.joinable()) {
    thread_.join();
  }
}

inline void server::stop() {
  asio::post(io_, [this] { do_stop(); });
}

inline void server::reconfigure(std::function<void(server_options&)> change) {
  asio::post(io_, [this, change = std::move(change)] {
    change(options_);
    if (!options_.make_pipeline) {
      options_.make_pipeline = default_pipeline_factory();
    }
    // The access rules are a copy of the options' (origins, same-origin, token): rebuilt, so a
    // reload applies to the next handshake.
    access_ = access_policy(options_.allowed_origins, options_.same_origin, options_.producer_token);
  });
}

inline void server::stop_on_signals(std::initializer_list<int> signals) {
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

inline server_stats server::stats() const noexcept {
  server_stats s;
  s.connections = n_connections_.load(std::memory_order_relaxed);
  s.streams = n_streams_.load(std::memory_order_relaxed);
  s.messages = n_messages_.load(std::memory_order_relaxed);
  s.samples = n_samples_.load(std::memory_order_relaxed);
  s.rejected = n_rejected_.load(std::memory_order_relaxed);
  s.dropped = n_dropped_.load(std::memory_order_relaxed);
  s.snapshots_sent = n_snapshots_.load(std::memory_order_relaxed);
  s.alerts_sent = n_alerts_.load(std::memory_order_relaxed);
  s.refused_handshakes = n_refused_.load(std::memory_order_relaxed);
  s.peak_queued_bytes = n_peak_queued_.load(std::memory_order_relaxed);
  return s;
}

inline void server::push(std::string stream, double value, double t) {
  asio::post(io_, [this, stream = std::move(stream), value, t] {
    if (!stopping_) {
      handle_push(nullptr, stream, &value, 1, t, {});
    }
  });
}

inline void server::push(std::string stream, std::vector<double> values, double t) {
  asio::post(io_, [this, stream = std::move(stream), values = std::move(values), t] {
    if (!stopping_) {
      handle_push(nullptr, stream, values.data(), values.size(), t, {});
    }
  });
}

// ---- timers and shutdown -------------------------------------------------------------------------

inline void server::schedule_tick() {
  tick_.expires_after(options_.snapshot_interval);
  tick_.async_wait([this](const std::error_code& ec) { on_tick(ec); });
}

inline void server::on_tick(const std::error_code& ec) {
  if (ec || stopping_) {
    return;
  }
  flush_snapshots(false);
  if (options_.idle_timeout.count() > 0) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_idle_check_ >= std::chrono::milliseconds(250)) {
      last_idle_check_ = now;
      close_idle();
    }
  }
  schedule_tick();
}

inline void server::close_idle() {
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

inline void server::do_stop() {
  if (stopping_) {
    return;
  }
  stopping_ = true;
  tick_.cancel();
  acceptor_.stop();
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
  std::vector<connection_ptr> open;
  open.reserve(connections_.size());
  for (auto& [key, c] : connections_) {
    open.push_back(c->con);
  }
  for (const connection_ptr& con : open) {
    std::error_code ec;
    con->close(websocketpp::close::status::going_away, "server shutting down", ec);
  }
  // Clients that never answer the close handshake (or never read) are cut off after the timeout.
  shutdown_timer_.expires_after(options_.shutdown_timeout);
  shutdown_timer_.async_wait([this](const std::error_code& ec) {
    if (!ec) {
      force_close();
    }
  });
  if (connections_.empty() && admitted_.empty()) {
    shutdown_timer_.cancel();
  }
}

inline void server::force_close() {
  std::vector<connection_ptr> open;
  for (auto& [key, c] : connections_) {
    open.push_back(c->con);
  }
  for (const connection_ptr& con : open) {
    std::error_code ec;
    con->get_raw_socket().close(ec);
  }
}

// ---- handshake and connections -------------------------------------------------------------------

inline bool server::on_validate(const hdl_type& hdl) {
  connection_ptr con = endpoint_.get_con_from_hdl(hdl);
  auto refuse = [&](websocketpp::http::status_code::value status) {
    bump(n_refused_);
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
  if (!access_.origin_allowed(con->get_request_header("Origin"), con->get_request_header("Host"))) {
    return refuse(websocketpp::http::status_code::forbidden);
  }
  if (connections_.size() + admitted_.size() >= options_.max_connections) {
    return refuse(websocketpp::http::status_code::service_unavailable);
  }
  std::error_code ec;
  const auto remote = con->get_raw_socket().remote_endpoint(ec);
  std::string address = ec ? std::string() : remote.address().to_string();
  std::size_t& from_here = per_address_[address];
  if (options_.max_connections_per_address > 0 && from_here >= options_.max_connections_per_address) {
    if (from_here == 0) {
      per_address_.erase(address);
    }
    return refuse(websocketpp::http::status_code::too_many_requests);
  }
  ++from_here;
  admitted_[hdl] =
      admission{access_.may_push(con->get_request_header("Authorization"), resource), std::move(address)};
  return true;
}

inline void server::release_address(const std::string& address) {
  const auto it = per_address_.find(address);
  if (it != per_address_.end() && --it->second == 0) {
    per_address_.erase(it);
  }
}

inline void server::on_open(const hdl_type& hdl) {
  connection_ptr con = endpoint_.get_con_from_hdl(hdl);
  admission adm;
  if (auto it = admitted_.find(hdl); it != admitted_.end()) {
    adm = std::move(it->second);
    admitted_.erase(it);
  }
  // Without TCP_NODELAY, Nagle + delayed ACK stall pipelined request/reply traffic by 40–50 ms.
  // (Here, not in the socket-init handler: the socket is open only now.)
  std::error_code ec;
  con->get_raw_socket().set_option(asio::ip::tcp::no_delay(true), ec);

  auto state = std::make_unique<connection_state>();
  state->con = con;
  state->authorized = adm.authorized;
  state->address = std::move(adm.address);
  state->tokens = options_.max_messages_per_second;
  state->refill = std::chrono::steady_clock::now();
  state->query_tokens = options_.query_budget_per_second;
  state->query_refill = state->refill;
  state->opened = state->refill;
  connection_state* c = state.get();
  con->set_message_handler([this, c](const hdl_type& /*h*/, const message_ptr& msg) { on_message(*c, msg); });
  con->set_ping_handler(
      [this, c](const hdl_type& /*h*/, const std::string& payload) { return on_ping(*c, payload); });
  connections_.emplace(con.get(), std::move(state));
  n_connections_.store(connections_.size(), std::memory_order_relaxed);
  if (stopping_) {
    con->close(websocketpp::close::status::going_away, "server shutting down", ec);
  }
}

// The pong, sent by us rather than by websocketpp so that it counts: a pong waiting in the send
// queue costs its payload plus the message around it (~160 bytes measured: 10^6 empty pings grew
// the server by 156 MB). Pongs not yet written may cost at most max_pending_pong_bytes; a client
// past that sends pings without reading the answers, and is closed (1008) instead of fed.
inline bool server::on_ping(connection_state& c, const std::string& payload) {
  constexpr std::size_t per_message = 160;
  constexpr std::size_t max_pending_pong_bytes = 64 * 1024;
  while (!c.pongs.empty() && c.pongs.front().first.expired()) {
    c.pong_bytes -= c.pongs.front().second;
    c.pongs.pop_front();
  }
  const std::size_t cost = per_message + payload.size();
  if (c.pong_bytes + cost > max_pending_pong_bytes) {
    std::error_code ec;
    c.con->close(websocketpp::close::status::policy_violation, "pings faster than pongs are read", ec);
    return false;
  }
  auto msg = std::make_shared<config::message_type>(config::con_msg_manager_type::ptr(),
                                                    websocketpp::frame::opcode::pong, payload.size());
  // A control frame's payload is at most 125 bytes (RFC 6455 §5.5; websocketpp enforces it on
  // input), so the length fits the first byte.
  std::string header;
  header.push_back(static_cast<char>(0x8A));  // FIN + pong
  header.push_back(static_cast<char>(payload.size()));
  msg->set_header(header);
  msg->set_payload(payload);
  msg->set_prepared(true);
  if (!c.con->send(msg)) {
    c.pongs.emplace_back(msg, cost);
    c.pong_bytes += cost;
  }
  return false;
}

inline void server::on_close(const hdl_type& hdl) {
  if (const auto it = admitted_.find(hdl); it != admitted_.end()) {
    release_address(it->second.address);
    admitted_.erase(it);
  }
  const auto sp = hdl.lock();
  const auto it = connections_.find(sp.get());
  if (it != connections_.end()) {
    connection_state* c = it->second.get();
    for (const subscription& sub : c->subs) {
      auto& v = sub.stream->subscribers;
      v.erase(std::remove(v.begin(), v.end(), c), v.end());
    }
    wildcard_.erase(std::remove(wildcard_.begin(), wildcard_.end(), c), wildcard_.end());
    release_address(c->address);
    connections_.erase(it);
    n_connections_.store(connections_.size(), std::memory_order_relaxed);
  }
  if (stopping_ && connections_.empty() && admitted_.empty()) {
    shutdown_timer_.cancel();
  }
}

inline void server::on_http(const hdl_type& hdl) {
  connection_ptr con = endpoint_.get_con_from_hdl(hdl);
  const std::string& resource = con->get_resource();
  const std::string path = resource.substr(0, resource.find_first_of("?#"));
  auto answer = [&](websocketpp::http::status_code::value status, const char* type, const std::string& body) {
    con->set_status(status);
    con->append_header("Content-Type", type);
    con->append_header("Cache-Control", "no-store");
    con->set_body(body);
  };
  if (path == "/metrics") {
    answer(websocketpp::http::status_code::ok, "text/plain; version=0.0.4; charset=utf-8",
           prometheus_text(gather_metrics()));
    return;
  }
  if (path == "/healthz") {
    answer(websocketpp::http::status_code::ok, "text/plain; charset=utf-8", "ok\n");
    return;
  }
  if (path == "/readyz") {
    // Listening and not stopping. (State restore and a broker join these checks when they exist.)
    const bool ready = listening_ && !stopping_ && endpoint_.is_listening();
    answer(ready ? websocketpp::http::status_code::ok : websocketpp::http::status_code::service_unavailable,
           "text/plain; charset=utf-8", ready ? "ready\n" : "not ready: not listening\n");
    return;
  }
  if (path == "/ws") {
    con->set_status(websocketpp::http::status_code::upgrade_required);
    con->append_header("Sec-WebSocket-Version", "13");
    con->append_header("Content-Type", "text/plain; charset=utf-8");
    con->set_body("WebSocket endpoint: connect with ws://\n");
    return;
  }
  detail::http_reply r = detail::static_file(options_.document_root, path);
  con->set_status(static_cast<websocketpp::http::status_code::value>(r.status));
  con->append_header("Content-Type", r.content_type);
  if (r.status == 200) {
    con->append_header("Cache-Control", "no-cache");
  }
  con->set_body(std::move(r.body));
}

inline metrics_snapshot server::gather_metrics() const {
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
  for (std::size_t i = 0; i < rejected_by_code_.size(); ++i) {
    const auto code = static_cast<error_code>(i);
    if (to_string(code) != "unknown") {
      m.rejected_by_code.emplace_back(code, rejected_by_code_[i]);
    }
  }
  const double now = now_seconds();
  m.per_stream.reserve(streams_.size());
  for (const auto& [name, s] : streams_) {
    m.per_stream.push_back({name, s->count, s->rejected, s->subscribers.size(), now - s->t});
  }
  return m;
}

// ---- incoming messages ---------------------------------------------------------------------------

inline void server::on_message(connection_state& c, const message_ptr& msg) {
  bump(n_messages_);
  if (options_.max_messages_per_second > 0.0) {
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - c.refill).count();
    c.refill = now;
    c.tokens =
        std::min(options_.max_messages_per_second, c.tokens + elapsed * options_.max_messages_per_second);
    if (c.tokens < 1.0) {
      reject(&c, nullptr, error_code::rate_limited, "too many messages per second");
      return;
    }
    c.tokens -= 1.0;
  }
  const std::string& payload = msg->get_payload();
  if (msg->get_opcode() == websocketpp::frame::opcode::binary) {
    on_binary(c, payload);
  } else {
    on_text(c, payload);
  }
}

inline void server::on_text(connection_state& c, std::string_view payload) {
  request req;
  request_error err;
  if (!parser_.parse(payload, req, err)) {
    // The stream is known when the message got that far and names an existing stream.
    stream_state* s = req.has_stream ? find_stream(req.stream) : nullptr;
    reject(&c, s, err.code, err.message, req.id);
    return;
  }
  if (req.type == request_type::list) {
    if (spend_query(c, std::min(streams_.size(), options_.max_list_streams), req.id)) {
      reply_list(c, req.id);
    }
    return;
  }
  if (req.type == request_type::push) {
    const double* values = req.single ? &req.value : parser_.values().data();
    const std::size_t n = req.single ? 1 : parser_.values().size();
    handle_push(&c, req.stream, values, n, req.has_t ? req.t : std::nan(""), req.id);
    return;
  }

  // subscribe / unsubscribe / snapshot
  if (req.stream == "*" && req.type != request_type::snapshot) {
    if (!spend_query(c, std::max<std::size_t>(1, streams_.size()), req.id)) {
      return;
    }
    // The ack first, then the snapshots of the subscription.
    send_subscription_ack(c, req);
    if (req.type == request_type::subscribe) {
      c.active = true;
      if (!c.wildcard) {
        c.wildcard = true;
        wildcard_.push_back(&c);
      }
      for (auto& [name, s] : streams_) {
        subscribe(c, *s);
      }
    } else {
      c.wildcard = false;
      wildcard_.erase(std::remove(wildcard_.begin(), wildcard_.end(), &c), wildcard_.end());
      while (!c.subs.empty()) {
        unsubscribe(c, *c.subs.back().stream);
      }
    }
  } else {
    stream_state* s = find_stream(req.stream);
    if (s == nullptr) {
      reject(&c, nullptr,
             valid_utf8_name(req.stream) ? error_code::unknown_stream : error_code::invalid_stream_name,
             "no such stream", req.id);
      return;
    }
    if (!spend_query(c, 1, req.id)) {
      return;
    }
    if (req.type == request_type::snapshot) {
      out_.clear();
      write_snapshot(*s, out_, req.id);
      if (send_text(c, out_)) {
        bump(n_snapshots_);
      }
      return;
    }
    send_subscription_ack(c, req);
    if (req.type == request_type::subscribe) {
      c.active = true;
      subscribe(c, *s);
    } else {
      unsubscribe(c, *s);
    }
  }
}

// Draws `cost` from the connection's query budget (query_budget_per_second); false, with error
// rate_limited sent, when the budget does not cover it.
inline bool server::spend_query(connection_state& c, std::size_t cost, std::string_view id) {
  const double rate = options_.query_budget_per_second;
  if (rate <= 0.0) {
    return true;
  }
  const auto now = std::chrono::steady_clock::now();
  c.query_tokens =
      std::min(rate, c.query_tokens + std::chrono::duration<double>(now - c.query_refill).count() * rate);
  c.query_refill = now;
  // A request may cost more than a full bucket (a list capped at max_list_streams, a "*" over many
  // streams): it is allowed on a full bucket and leaves the bucket in debt.
  const double need = std::min(static_cast<double>(cost), rate);
  if (c.query_tokens < need) {
    reject(&c, nullptr, error_code::rate_limited, "over the query budget (list, snapshot, subscribe)", id);
    return false;
  }
  c.query_tokens -= static_cast<double>(cost);
  return true;
}

inline void server::send_subscription_ack(connection_state& c, const request& req) {
  out_.clear();
  json_writer w(out_);
  w.begin_object();
  w.member_string("type", req.type == request_type::subscribe ? "subscribed" : "unsubscribed");
  w.member_string("stream", req.stream);
  if (!req.id.empty()) {
    w.key("id");
    w.value_raw(req.id);
  }
  w.end_object();
  send_text(c, out_);
}

inline void server::on_binary(connection_state& c, std::string_view p) {
  // Decoded (and the samples checked) by protocol.hpp, the code the fuzz target runs.
  request req;
  request_error err;
  if (!parser_.parse_binary(p, req, err)) {
    reject(&c, req.has_stream ? find_stream(req.stream) : nullptr, err.code, err.message);
    return;
  }
  handle_push(&c, req.stream, parser_.values().data(), parser_.values().size(), std::nan(""), {});
}

inline server::stream_state* server::find_stream(std::string_view name) {
  const auto it = streams_.find(name);
  return it == streams_.end() ? nullptr : it->second.get();
}

inline server::stream_state* server::find_or_create_stream(connection_state* c, std::string_view name,
                                                           std::string_view id) {
  if (c != nullptr && c->last_stream != nullptr && c->last_stream->name == name) {
    return c->last_stream;
  }
  if (stream_state* s = find_stream(name)) {
    if (c != nullptr) {
      c->last_stream = s;
    }
    return s;
  }
  if (!valid_utf8_name(name)) {
    reject(c, nullptr, error_code::invalid_stream_name, "stream names are 1 to 255 bytes of UTF-8", id);
    return nullptr;
  }
  if (streams_.size() >= options_.max_streams) {
    reject(c, nullptr, error_code::too_many_streams, "the server's stream limit is reached", id);
    return nullptr;
  }
  auto s = std::make_unique<stream_state>();
  s->name = std::string(name);
  try {
    s->pipe = options_.make_pipeline(name);
  } catch (...) {
    // A throwing factory must not take the io thread down: the stream gets the default pipeline.
    s->pipe = nullptr;
  }
  if (!s->pipe) {
    s->pipe = std::make_unique<default_pipeline>();
  }
  stream_state* raw = s.get();
  streams_.emplace(raw->name, std::move(s));
  n_streams_.store(streams_.size(), std::memory_order_relaxed);
  for (connection_state* w : wildcard_) {
    subscribe(*w, *raw, false);
  }
  if (c != nullptr) {
    c->last_stream = raw;
  }
  return raw;
}

inline void server::handle_push(connection_state* c, std::string_view name, const double* values,
                                std::size_t n, double t, std::string_view id) {
  if (c != nullptr && !c->authorized) {
    reject(c, nullptr, error_code::unauthorized, "pushing requires the producer token", id);
    return;
  }
  if (c != nullptr) {
    c->active = true;
  }
  // Whole batch or nothing: check every sample before the first reaches the stream (protocol.hpp's
  // admission rule; the decoders already applied it, this covers push() from C++).
  request_error bad;
  if (!check_samples(values, n, t, bad)) {
    reject(c, find_stream(name), bad.code, bad.message, id);
    return;
  }
  stream_state* s = find_or_create_stream(c, name, id);
  if (s == nullptr) {
    return;
  }
  const double when = std::isnan(t) ? now_seconds() : t;
  if (n == 1) {
    alert_info a;
    if (s->pipe->push(values[0], a)) {
      send_alert(*s, s->count, values[0], when, a);
    }
  } else {
    struct sink final : alert_sink {
      server* self;
      stream_state* stream;
      double when;
      sink(server* sv, stream_state* st, double w) : self(sv), stream(st), when(w) {}
      void on_alert(std::size_t offset, double x, const alert_info& a) override {
        self->send_alert(*stream, stream->count + offset, x, when, a);
      }
    } alerts(this, s, when);
    s->pipe->push_batch(values, n, alerts);
  }
  s->count += n;
  s->last = values[n - 1];
  s->t = when;
  ++s->version;
  bump(n_samples_, n);
  if (c != nullptr && !id.empty()) {
    out_.clear();
    json_writer w(out_);
    w.begin_object();
    w.member_string("type", "ack");
    w.member_string("stream", s->name);
    w.member_uint("accepted", n);
    w.key("id");
    w.value_raw(id);
    w.end_object();
    send_text(*c, out_);
  }
}

inline void server::reject(connection_state* c, stream_state* s, error_code code, std::string_view message,
                           std::string_view id) {
  bump(n_rejected_);
  if (const auto i = static_cast<std::size_t>(code); i < rejected_by_code_.size()) {
    ++rejected_by_code_[i];
  }
  // A stream's "rejected" is what its producers got wrong: a connection that may not push (a server
  // with a producer token, an anonymous client) cannot raise it.
  if (s != nullptr && (c == nullptr || c->authorized)) {
    ++s->rejected;
    ++s->version;
  }
  if (c == nullptr) {
    return;
  }
  out_.clear();
  json_writer w(out_);
  w.begin_object();
  w.member_string("type", "error");
  w.member_string("code", to_string(code));
  w.member_string("message", message);
  if (!id.empty()) {
    w.key("id");
    w.value_raw(id);
  }
  w.end_object();
  send_text(*c, out_);
}

inline void server::subscribe(connection_state& c, stream_state& s, bool immediate) {
  for (const subscription& sub : c.subs) {
    if (sub.stream == &s) {
      return;
    }
  }
  c.subs.push_back(subscription{&s, 0, 0});
  s.subscribers.push_back(&c);
  // One snapshot at once, then throttled ones. (A stream created under a "*" subscription is
  // empty at this point: its first snapshot comes with the next tick.)
  if (!immediate) {
    return;
  }
  if (send_prepared(c, snapshot_message(s))) {
    c.subs.back().sent_version = s.version;
    bump(n_snapshots_);
  } else {
    c.subs.back().pending_version = s.version;
  }
}

inline void server::unsubscribe(connection_state& c, stream_state& s) {
  c.subs.erase(
      std::remove_if(c.subs.begin(), c.subs.end(), [&](const subscription& x) { return x.stream == &s; }),
      c.subs.end());
  s.subscribers.erase(std::remove(s.subscribers.begin(), s.subscribers.end(), &c), s.subscribers.end());
}

inline void server::reply_list(connection_state& c, std::string_view id) {
  out_.clear();
  json_writer w(out_);
  w.begin_object();
  w.member_string("type", "streams");
  w.key("streams");
  w.begin_array();
  std::size_t listed = 0;
  for (const auto& [name, s] : streams_) {
    if (listed++ == options_.max_list_streams) {
      break;
    }
    w.begin_object();
    w.member_string("name", name);
    w.member_uint("count", s->count);
    w.member_uint("rejected", s->rejected);
    w.member_uint("subscribers", s->subscribers.size());
    w.end_object();
  }
  w.end_array();
  w.member_uint("total", streams_.size());
  if (streams_.size() > options_.max_list_streams) {
    w.key("truncated");
    w.value_bool(true);
  }
  w.member_uint("rejected", n_rejected_.load(std::memory_order_relaxed));
  w.member_uint("dropped", c.dropped);
  w.member_uint("dropped_total", n_dropped_.load(std::memory_order_relaxed));
  if (!id.empty()) {
    w.key("id");
    w.value_raw(id);
  }
  w.end_object();
  send_text(c, out_);
}

// ---- outgoing messages ---------------------------------------------------------------------------

inline bool server::send_text(connection_state& c, std::string_view payload) {
  if (c.con->get_buffered_amount() > options_.max_queued_bytes) {
    ++c.dropped;
    bump(n_dropped_);
    return false;
  }
  std::error_code ec = c.con->send(payload.data(), payload.size(), websocketpp::frame::opcode::text);
  return !ec;
}

inline bool server::send_prepared(connection_state& c, const message_ptr& msg) {
  if (c.con->get_buffered_amount() > options_.max_queued_bytes) {
    ++c.dropped;
    bump(n_dropped_);
    return false;
  }
  return !c.con->send(msg);
}

// A message framed once and queued on any number of connections: server frames are unmasked
// (RFC 6455 §5.1), so the bytes are the same for every subscriber and websocketpp sends a
// "prepared" message without copying it.
inline server::message_ptr server::prepare(std::string_view payload) {
  auto msg = std::make_shared<config::message_type>(config::con_msg_manager_type::ptr(),
                                                    websocketpp::frame::opcode::text, payload.size());
  std::string header;
  header.push_back(static_cast<char>(0x81));  // FIN + text
  const std::size_t n = payload.size();
  if (n < 126) {
    header.push_back(static_cast<char>(n));
  } else if (n <= 0xFFFF) {
    header.push_back(static_cast<char>(126));
    header.push_back(static_cast<char>((n >> 8U) & 0xFFU));
    header.push_back(static_cast<char>(n & 0xFFU));
  } else {
    header.push_back(static_cast<char>(127));
    for (int shift = 56; shift >= 0; shift -= 8) {
      header.push_back(
          static_cast<char>((static_cast<std::uint64_t>(n) >> static_cast<unsigned>(shift)) & 0xFFU));
    }
  }
  msg->set_header(header);
  msg->set_payload(payload.data(), payload.size());
  msg->set_prepared(true);
  return msg;
}

inline void server::write_snapshot(stream_state& s, std::string& out, std::string_view id) {
  json_writer w(out);
  w.begin_object();
  w.member_string("type", "snapshot");
  w.member_string("stream", s.name);
  w.member_uint("count", s.count);
  w.member_uint("rejected", s.rejected);
  w.member_number("last", s.last);
  w.member_number("t", s.t);
  w.key("stats");
  w.begin_object();
  stats_writer sw(w);
  s.pipe->write_stats(sw);
  w.end_object();
  if (!id.empty()) {
    w.key("id");
    w.value_raw(id);
  }
  w.end_object();
}

inline const server::message_ptr& server::snapshot_message(stream_state& s) {
  if (s.cached_version != s.version || !s.cached) {
    out_.clear();
    write_snapshot(s, out_, {});
    s.cached = prepare(out_);
    s.cached_version = s.version;
  }
  return s.cached;
}

inline void server::flush_snapshots(bool final_flush) {
  for (auto& [key, c] : connections_) {
    const std::uint64_t queued = c->con->get_buffered_amount();
    if (queued > n_peak_queued_.load(std::memory_order_relaxed)) {
      n_peak_queued_.store(queued, std::memory_order_relaxed);
    }
    for (subscription& sub : c->subs) {
      stream_state& s = *sub.stream;
      if (!final_flush && sub.sent_version == s.version) {
        continue;
      }
      if (send_prepared(*c, snapshot_message(s))) {
        sub.sent_version = s.version;
        sub.pending_version = 0;
        bump(n_snapshots_);
      } else {
        // Coalesced: at most one snapshot per stream waits; a newer one replaces it (send_prepared
        // already counted this attempt as a drop).
        sub.pending_version = s.version;
      }
    }
  }
}

inline void server::send_alert(stream_state& s, std::uint64_t index, double value, double t,
                               const alert_info& a) {
  if (s.subscribers.empty()) {
    return;
  }
  out_.clear();
  json_writer w(out_);
  w.begin_object();
  w.member_string("type", "alert");
  w.member_string("stream", s.name);
  w.member_uint("index", index);
  w.member_number("value", value);
  w.member_number("z", a.z);
  w.member_number("score", a.score);
  w.member_number("t", t);
  w.end_object();
  const message_ptr msg = prepare(out_);
  for (connection_state* c : s.subscribers) {
    if (send_prepared(*c, msg)) {
      bump(n_alerts_);
    }
  }
}

}  // namespace streamstats::websocket
