// streamstats::websocket — a WebSocket server that binds named streams to accumulator pipelines.
// SPDX-License-Identifier: MIT
//
// Producers push samples (JSON text or binary float64 frames), subscribers receive throttled
// snapshots and immediate alerts. The wire protocol is specified in docs/protocol.md, the C++ API
// in docs/websocket.md.
//
// This is the public face. The work is done by parts with one job each, in the order a message
// flows through them (core.hpp puts them together):
//   transport.hpp → access.hpp, connections.hpp → dispatch.hpp (protocol.hpp decodes) →
//   registry.hpp (streams and pipelines) → fanout.hpp (subscribers) ; http.hpp for plain GETs.
//
// Threading: with io_threads = 1 (the default) one io thread (the one in run(), or the one start()
// launches) owns every socket and every stream; with more, run() starts the others and each stream
// and each connection belongs to one of them (core.hpp). Nothing on the hot path takes a lock.
// push(), stop() and stats() may be called from any thread: push() and stop() post to an io
// thread, stats() reads relaxed atomics.
#pragma once

#include <streamstats/websocket/core.hpp>
#include <streamstats/websocket/options.hpp>

#include <cmath>
#include <csignal>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace streamstats::websocket {

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
  [[nodiscard]] std::uint16_t port() const noexcept { return engine_->port(); }
  [[nodiscard]] server_stats stats() const noexcept { return engine_->stats(); }
  // The options (read them on the io thread, or while no reconfigure() can run).
  [[nodiscard]] const server_options& options() const noexcept { return engine_->options(); }

  // Injects samples from C++ (thread-safe: posted to the io thread, in order per calling thread).
  // `t` is the Unix time in seconds of the (first) sample; NaN = time of arrival. Non-finite
  // samples are rejected and counted as over the wire. Streams are created as by a push message.
  void push(std::string stream, double value, double t = std::nan(""));
  void push(std::string stream, std::vector<double> values, double t = std::nan(""));

#if defined(STREAMSTATS_WEBSOCKET_TLS)
  // A TLS server: reads the certificate, key and client CA files again (any thread; what
  // streamstatsd does on SIGHUP). New connections get the new context, open ones keep theirs.
  // Throws tls_error, and keeps serving the previous certificate, when the files cannot be used.
  void reload_tls(tls_options next) { engine_->reload_tls(std::move(next)); }
#endif

 private:
  // The transport is chosen here, once: plain TCP, or TLS when options.tls has a certificate.
  std::unique_ptr<detail::server_engine> engine_;
};

namespace detail {
inline std::unique_ptr<server_engine> make_engine(server_options options) {
#if defined(STREAMSTATS_WEBSOCKET_TLS)
  if (!options.tls.cert_chain.empty() || !options.tls.key.empty()) {
    return std::make_unique<server_core<tls_config>>(std::move(options));
  }
#endif
  return std::make_unique<server_core<plain_config>>(std::move(options));
}
}  // namespace detail

// Plain TCP unless options.tls names a certificate (then TLS only: wss:// and https://).
inline server::server(server_options options) : engine_(detail::make_engine(std::move(options))) {}

// The engine's destructor stops and joins the thread of start().
inline server::~server() = default;

inline void server::listen() { engine_->listen(); }
inline void server::run() { engine_->run(); }
inline void server::start() { engine_->start(); }
inline void server::stop() { engine_->stop(); }
inline void server::stop_on_signals(std::initializer_list<int> signals) { engine_->stop_on_signals(signals); }
inline void server::join() { engine_->join(); }
inline void server::reconfigure(std::function<void(server_options&)> change) {
  engine_->reconfigure(std::move(change));
}
inline void server::push(std::string stream, double value, double t) {
  engine_->push(std::move(stream), value, t);
}
inline void server::push(std::string stream, std::vector<double> values, double t) {
  engine_->push(std::move(stream), std::move(values), t);
}

}  // namespace streamstats::websocket
