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
#pragma once

#include <streamstats/websocket/access.hpp>
#include <streamstats/websocket/connections.hpp>
#include <streamstats/websocket/dispatch.hpp>
#include <streamstats/websocket/fanout.hpp>
#include <streamstats/websocket/handoff.hpp>
#include <streamstats/websocket/http.hpp>
#include <streamstats/websocket/metrics.hpp>
#include <streamstats/websocket/options.hpp>
#include <streamstats/websocket/pipeline.hpp>
#include <streamstats/websocket/protocol.hpp>
#include <streamstats/websocket/registry.hpp>
#include <streamstats/websocket/transport.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <limits>
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
};

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
  }

  void run() override {
    listen();
    run_shards();
  }

  void start() override {
    listen();
    thread_ = std::thread([this] { run_shards(); });
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
    });
  }

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
    s.streams = n_streams_.load(std::memory_order_relaxed);
    s.refused_handshakes = n_refused_.load(std::memory_order_relaxed);
    for (const auto& sh : shards_) {
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
    handoff_span name, values, id;
    double t = 0.0;
    message_ptr msg;                 // deliver
    std::function<void(shard&)> fn;  // op, run on the receiving shard
    void rebase(std::uint32_t text, std::uint32_t vals) noexcept {
      name.offset += text;
      id.offset += text;
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
      endpoint.set_fail_handler([&core, this](const hdl_type& h) { core.on_close(*this, h); });
      endpoint.set_http_handler([&core, this](const hdl_type& h) { core.on_http(*this, h); });
    }

    std::size_t index;
    asio::io_context io;
    endpoint_type endpoint;
    asio::steady_timer tick;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> keep_running;
    std::chrono::steady_clock::time_point last_idle_check{};
    server_options options;  // this thread's copy
    access_policy access;
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
  };

  // dispatch.hpp's handler: the actions for one message of connection `c` on shard `sh`.
  struct actions {
    server_core& self;
    shard& sh;
    connection_state& c;

    void invalid(const request& req, const request_error& err) {
      // The stream is known when the message got that far and names an existing stream (counted on
      // its owner).
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
    void push(std::string_view name, const double* v, std::size_t n, double t, std::string_view id) {
      if (!c.authorized) {
        self.reject(sh, &c, nullptr, error_code::unauthorized, "pushing requires the producer token", id);
        return;
      }
      c.active = true;
      shard& owner = self.owner_of(name);
      if (&owner == &sh) {
        self.handle_push(sh, &c, &c.last_stream, name, v, n, t, id);
      } else {
        self.forward_push(sh, owner, c.con, name, v, n, t, id);
      }
    }
    void list(const request& req) {
      const std::size_t total = self.n_streams_.load(std::memory_order_relaxed);
      if (!self.spend_query(sh, c, std::min(total, sh.options.max_list_streams), req.id)) {
        return;
      }
      if (self.shards_.size() == 1) {
        sh.out.clear();
        const list_totals totals{sh.options.max_list_streams, self.rejected_total(),
                                 c.con->dropped.load(std::memory_order_relaxed), self.dropped_total()};
        write_list(sh.out, sh.streams, totals, req.id);
        sh.fanout.send_text(c, sh.out);
        return;
      }
      self.gather_list(sh, c, std::string(req.id));
    }
    void subscribe_all(const request& req) {
      if (self.spend_query(sh, c, std::max<std::size_t>(1, self.n_streams_.load(std::memory_order_relaxed)),
                           req.id)) {
        self.send_subscription_ack(sh, c, req);  // the ack first, then the snapshots
        c.active = true;
        self.for_every_shard(sh, c.con,
                             [](shard& o, subscriber& rec) { o.fanout.subscribe_all(rec, o.streams); });
      }
    }
    void unsubscribe_all(const request& req) {
      if (self.spend_query(sh, c, std::max<std::size_t>(1, self.n_streams_.load(std::memory_order_relaxed)),
                           req.id)) {
        self.send_subscription_ack(sh, c, req);
        self.for_every_shard(sh, c.con, [](shard& o, subscriber& rec) { o.fanout.unsubscribe_all(rec); });
      }
    }
    void on_stream(const request& req) {
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
      // Owned elsewhere: the budget is spent here (an unknown stream costs 1 then), the owner answers.
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
                        it.t, b.text_of(it.id), it.pusher);
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
                    std::size_t n, double t, std::string_view id) {
    enqueue(from, to, [&](typename handoff_type::batch& b) {
      item it;
      it.k = item::kind::push;
      it.pusher = p.get();
      it.name = b.add_text(name);
      it.values = b.add_values(v, n);
      it.id = b.add_text(id);
      it.t = t;
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

  // Stop accepting; every shard sends its final snapshots; once all have, every shard closes its
  // connections (so a final snapshot handed to another shard is queued before that close).
  void do_stop() {
    if (stopping_.exchange(true)) {
      return;
    }
    acceptor_->stop();
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
          asio::post(sh->io, [this, &s = *sh] {
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
    if (!sh.access.origin_allowed(con->get_request_header("Origin"), con->get_request_header("Host"))) {
      return refuse(websocketpp::http::status_code::forbidden);
    }
    std::error_code ec;
    const auto remote = con->get_raw_socket().remote_endpoint(ec);
    std::string address = ec ? std::string() : remote.address().to_string();
    const bool may_push = sh.access.may_push(con->get_request_header("Authorization"), resource);
    admission_table::verdict v{};
    {
      const std::lock_guard<std::mutex> lock(admission_mutex_);
      v = admissions_.admit(hdl, std::move(address), may_push, open_total_, sh.options.max_connections,
                            sh.options.max_connections_per_address);
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

  void on_close(shard& sh, const hdl_type& hdl) {
    {
      const std::lock_guard<std::mutex> lock(admission_mutex_);
      admissions_.forget(hdl);
    }
    const auto sp = hdl.lock();
    const auto it = sh.connections.find(sp.get());
    if (it != sh.connections.end()) {
      connection_state* c = it->second.get();
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

  // The stream `name` on its owner `sh`, created when needed (max_streams counts every shard).
  stream_type* find_or_create_stream(shard& sh, subscriber* c, std::string_view name, std::string_view id) {
    if (stream_type* s = sh.streams.find(name)) {
      return s;
    }
    error_code err = error_code::invalid_stream_name;
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
                   std::size_t n, double t, std::string_view id, peer_type* remote = nullptr) {
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
    const double when = std::isnan(t) ? now_seconds() : t;
    sh.streams.push(*s, values, n, when, [&](std::uint64_t index, double x, const alert_info& a) {
      sh.fanout.alert(*s, index, x, when, a);
    });
    sh.n_samples.add(n);
    if (!id.empty() && (c != nullptr || remote != nullptr)) {
      sh.out.clear();
      write_ack(sh.out, s->name, n, id);
      sh.fanout.send_text(*replies(), sh.out);
    }
  }

  // ---- replies gathered from every shard (io_threads > 1) -----------------------------------------

  struct list_gather {
    std::vector<list_entry> entries;
    std::size_t total = 0;
    std::size_t left = 0;
  };

  void gather_list(shard& home, connection_state& c, std::string id) {
    auto g = std::make_shared<list_gather>();
    g->left = shards_.size();
    const std::size_t cap = home.options.max_list_streams;
    peer_ptr p = c.con;
    // Each shard adds its streams; to the others the request goes through the handoff, behind what
    // this connection handed them before (so the reply counts every sample it sent).
    auto collect = [this, g, cap, p, id, &home](shard& o) {
      std::vector<list_entry> part;
      o.streams.for_each([&](std::string_view name, const stream_type& s) {
        if (part.size() == cap) {
          return false;
        }
        part.push_back(
            {std::string(name), s.counters.count, s.counters.rejected, s.topic.subscribers.size()});
        return true;
      });
      const std::size_t total = o.streams.size();
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
    ctx.ready =
        listening_ && !stopping_.load(std::memory_order_relaxed) && shards_[0]->endpoint.is_listening();
    ctx.metrics = [this, &sh] {
      metrics_parts parts;
      add_metrics(sh, parts);
      return prometheus_text(finish_metrics(parts));
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

  // Per-shard pieces of /metrics, with the stream names they own.
  struct metrics_parts {
    std::vector<std::string> names;
    std::vector<metrics_snapshot::stream> per_stream;  // names filled by finish_metrics
    std::array<std::uint64_t, 32> rejected_by_code{};
    std::size_t left = 0;
  };

  void add_metrics(shard& sh, metrics_parts& parts) const {
    for (std::size_t i = 0; i < parts.rejected_by_code.size(); ++i) {
      parts.rejected_by_code[i] += sh.rejected_by_code[i].get();
    }
    const double now = now_seconds();
    sh.streams.for_each([&](std::string_view name, const stream_type& s) {
      parts.names.emplace_back(name);
      parts.per_stream.push_back(
          {{}, s.counters.count, s.counters.rejected, s.topic.subscribers.size(), now - s.counters.t});
    });
  }

  metrics_snapshot finish_metrics(metrics_parts& parts) const {
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
    for (std::size_t i = 0; i < parts.rejected_by_code.size(); ++i) {
      const auto code = static_cast<error_code>(i);
      if (to_string(code) != "unknown") {
        m.rejected_by_code.emplace_back(code, parts.rejected_by_code[i]);
      }
    }
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
  // shard adds its streams on its own thread.
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
        asio::post(home.io, [this, parts, mine, con] {
          for (std::size_t i = 0; i < parts->rejected_by_code.size(); ++i) {
            parts->rejected_by_code[i] += mine->rejected_by_code[i];
          }
          std::move(mine->names.begin(), mine->names.end(), std::back_inserter(parts->names));
          std::move(mine->per_stream.begin(), mine->per_stream.end(), std::back_inserter(parts->per_stream));
          if (--parts->left != 0) {
            return;
          }
          http_reply r;
          r.status = 200;
          r.content_type = "text/plain; version=0.0.4; charset=utf-8";
          r.body = prometheus_text(finish_metrics(*parts));
          r.headers.emplace_back("Cache-Control", "no-store");
          answer(con, std::move(r));
          std::error_code ec;
          con->send_http_response(ec);
        });
      });
    }
  }

  server_options options_;  // shard 0's view is shards_[0]->options; this is the public copy
  std::vector<std::unique_ptr<shard>> shards_;
  std::unique_ptr<acceptor<Config>> acceptor_;
  std::size_t next_home_ = 0;  // the acceptor's round robin (shard 0's thread)
  std::unique_ptr<asio::steady_timer> shutdown_timer_;
  std::unique_ptr<asio::signal_set> signals_;
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
