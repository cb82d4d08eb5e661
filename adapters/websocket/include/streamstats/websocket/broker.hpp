// streamstats::websocket broker — what a server needs from a broker between nodes (scale-out over
// Redis, docs/scale-out.md), without depending on one: the interface the server calls (broker) and
// the one the broker calls back (broker_host). The Redis implementation is redis/broker.hpp
// (target streamstats::redis); a server gets it through server_options::make_broker.
// SPDX-License-Identifier: MIT
//
// With a broker, a push is not applied where it arrives: it is appended to the stream's shared log
// and acknowledged once the broker confirmed it. One node owns each stream and applies the log to
// its local pipeline (broker_host::apply), storing the state; the others load the states it
// publishes (broker_host::load) and deliver its alerts (broker_host::deliver_alert).
//
// Threading: everything here runs on the server's io thread.
#pragma once

#include <streamstats/websocket/protocol.hpp>

#include <asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace streamstats::websocket {

// server_options::redis: empty url = no broker, the server runs alone.
struct redis_options {
  // redis://[[user]:password@]host[:port][/db] or unix:///path/to/redis.sock[?db=N&password=P&user=U]
  // (redis/broker.hpp, parse_url)
  std::string url;
  // The lease of a stream's owner: a crashed owner's streams move after at most ~TTL + TTL/3.
  std::chrono::milliseconds lease_ttl{1000};
  // Key prefix (all nodes of one deployment use the same).
  std::string prefix = "ss";
  // How often a node looks for streams created by other nodes.
  std::chrono::milliseconds discovery_interval{250};
};

// What a broker counts (/metrics).
struct broker_metrics {
  bool connected = false;           // every Redis connection is up
  std::uint64_t appended = 0;       // samples acknowledged by Redis
  std::uint64_t applied = 0;        // samples applied by this node as owner
  std::uint64_t unavailable = 0;    // pushes answered `unavailable`
  std::uint64_t duplicates = 0;     // numbered pushes found already in the log (not appended again)
  std::uint64_t lease_gains = 0;    // streams this node started owning
  std::uint64_t lease_losses = 0;   // streams this node stopped owning (lost or refused lease)
  std::uint64_t owned = 0;          // streams owned now
  std::uint64_t known_streams = 0;  // streams discovered in the broker
};

// An alert found by a stream's owner.
struct broker_alert {
  std::uint64_t index = 0;
  double value = 0.0;
  double z = 0.0;
  double score = 0.0;
  double t = 0.0;
};

// The answer to broker::append.
struct append_outcome {
  bool ok = false;                             // acknowledged: the batch is in the log (or was already)
  error_code error = error_code::unavailable;  // when !ok: unavailable, invalid_stream_name, out_of_order
  bool duplicate = false;                      // a numbered batch that was already in the log
  bool has_first = false;                      // `first` is known (always, except for an older duplicate)
  std::uint64_t first = 0;                     // the index of the batch's first sample in the stream
  std::uint64_t expected = 0;                  // out_of_order: the seq the log expects from this producer
};

// Implemented by the server: its local streams, as the broker reads and writes them.
class broker_host {
 public:
  broker_host() = default;
  broker_host(const broker_host&) = delete;
  broker_host& operator=(const broker_host&) = delete;
  broker_host(broker_host&&) = delete;
  broker_host& operator=(broker_host&&) = delete;
  virtual ~broker_host() = default;

  // The stream exists locally (created with the server's pipeline factory); false when refused.
  virtual bool ensure_stream(std::string_view name) = 0;
  // Owner: learns n samples in log order, with the batch's time t as append() was given it (Unix
  // seconds, its first sample's; NaN for a log entry without one: the owner's clock then); the alerts
  // they start are appended to `alerts`.
  virtual void apply(std::string_view name, const double* v, std::size_t n, double t,
                     std::vector<broker_alert>& alerts) = 0;
  // The stream's whole state (counters + pipeline state); false when its pipeline has no state.
  virtual bool save(std::string_view name, std::string& out) = 0;
  // Replaces the stream's state with `bytes` (from save()); "" or what was wrong.
  virtual std::string load(std::string_view name, std::string_view bytes) = 0;
  // A fresh pipeline and zero counters (an owner that found no stored state).
  virtual void reset(std::string_view name) = 0;
  // Sends an alert to the stream's local subscribers.
  virtual void deliver_alert(std::string_view name, const broker_alert& a) = 0;
  virtual void log(std::string_view level, const std::string& message) = 0;
};

class broker {
 public:
  broker() = default;
  broker(const broker&) = delete;
  broker& operator=(const broker&) = delete;
  broker(broker&&) = delete;
  broker& operator=(broker&&) = delete;
  virtual ~broker() = default;

  virtual void start() = 0;
  // Gives up the leases and closes the connections (the io loop can then end).
  virtual void stop() = 0;
  // Appends n ≥ 1 checked samples to the stream's log, with their time t (Unix seconds, the first
  // sample's: the push's "t" or its arrival time), which the owner's apply() gets back, so that a
  // successor replaying the log learns each batch with the time the first owner did; `done` runs
  // once, later, with the outcome.
  // With origin.seq != 0, the batch is numbered (producers.hpp's rule, applied by the broker across
  // nodes): a duplicate is acknowledged without being appended again, and a gap is out_of_order.
  using append_done = std::function<void(const append_outcome&)>;
  virtual void append(std::string_view name, const double* v, std::size_t n, double t,
                      const producer_seq& origin, append_done done) = 0;
  [[nodiscard]] virtual bool ready() const = 0;
  [[nodiscard]] virtual broker_metrics metrics() const = 0;
};

using broker_factory =
    std::function<std::unique_ptr<broker>(asio::io_context&, broker_host&, const redis_options&)>;

}  // namespace streamstats::websocket
