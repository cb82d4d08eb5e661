// streamstats::websocket fan-out — who gets what a stream produces: subscriptions (one stream, or
// "*" for every stream, present and future), throttled snapshots coalesced per subscriber, alerts
// at once, each message framed once and shared by every subscriber, and back-pressure: a
// connection whose send queue is over max_queued_bytes gets nothing more (snapshots wait,
// coalesced; alerts and replies are dropped and counted) until it reads.
// SPDX-License-Identifier: MIT
//
// Step 5 of a message's way (transport → access → dispatch → registry → fan-out → HTTP). No socket
// here: the bytes leave through a `Link`, which the server implements over websocketpp and the
// tests over a vector:
//
//   struct Link {
//     using connection = ...;  // a handle on one connection (copyable)
//     using message = ...;     // a framed message, shareable between connections (copyable)
//     message prepare(std::string_view payload);               // frame a text message once
//     std::size_t queued(const connection&);                   // bytes waiting to be written
//     bool send(connection&, const message&);                  // queue it; false on error
//     bool send_text(connection&, std::string_view payload);   // frame and queue; false on error
//     void dropped(connection&);                               // one message dropped for it
//   };
//
// Threading: the thread that owns the streams (and their subscribers' state) calls everything.
#pragma once

#include <streamstats/websocket/json_writer.hpp>
#include <streamstats/websocket/pipeline.hpp>
#include <streamstats/websocket/registry.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace streamstats::websocket {

template <typename Link>
class fanout {
 public:
  using connection = typename Link::connection;
  using message = typename Link::message;
  struct subscriber;

  // Per stream: its subscribers and its latest snapshot message (shared by all of them).
  struct topic {
    std::vector<subscriber*> subscribers;
    message cached{};
    std::uint64_t cached_version = 0;  // the stream version `cached` shows; 0 = none
  };
  using registry = stream_registry<topic>;
  using stream = typename registry::stream;

  struct subscription {
    stream* s = nullptr;
    std::uint64_t sent_version = 0;     // the version this subscriber has
    std::uint64_t pending_version = 0;  // a version held back by back-pressure, 0 = none
  };

  // Per connection (the server's connection state derives from it).
  struct subscriber {
    connection con{};
    std::vector<subscription> subs;
    bool wildcard = false;      // subscribed to "*": joins every stream created later
    std::uint64_t dropped = 0;  // messages dropped for back-pressure on this connection
  };

  // Counters readable from any thread (server_stats).
  struct counters {
    detail::relaxed_counter snapshots;    // snapshot messages sent
    detail::relaxed_counter alerts;       // alert messages sent (one per subscriber)
    detail::relaxed_counter dropped;      // messages dropped for back-pressure (all connections)
    detail::relaxed_counter peak_queued;  // the largest send queue seen at a flush
  };

  explicit fanout(Link link = Link(), std::size_t max_queued_bytes = std::size_t(1) << 20)
      : link_(std::move(link)), max_queued_bytes_(max_queued_bytes) {}

  void set_max_queued_bytes(std::size_t n) noexcept { max_queued_bytes_ = n; }
  [[nodiscard]] const counters& stats() const noexcept { return counters_; }
  [[nodiscard]] Link& link() noexcept { return link_; }

  // ---- sending, with back-pressure ---------------------------------------------------------------

  // Queues a reply on `c` unless its send queue is over the bound (then it is dropped and counted).
  bool send_text(subscriber& c, std::string_view payload) {
    if (over_bound(c)) {
      return false;
    }
    return link_.send_text(c.con, payload);
  }
  bool send(subscriber& c, const message& msg) {
    if (over_bound(c)) {
      return false;
    }
    return link_.send(c.con, msg);
  }

  // ---- subscriptions -----------------------------------------------------------------------------

  // Subscribes `c` to `s` (no-op when it already is); with `immediate`, sends the current snapshot
  // at once (held back, coalesced, when `c` is over the bound), else the next flush sends it.
  void subscribe(subscriber& c, stream& s, bool immediate = true) {
    for (const subscription& sub : c.subs) {
      if (sub.s == &s) {
        return;
      }
    }
    c.subs.push_back(subscription{&s, 0, 0});
    s.topic.subscribers.push_back(&c);
    if (!immediate) {
      return;
    }
    if (send(c, snapshot_message(s))) {
      c.subs.back().sent_version = s.version;
      counters_.snapshots.add();
    } else {
      c.subs.back().pending_version = s.version;
    }
  }

  void unsubscribe(subscriber& c, stream& s) {
    c.subs.erase(
        std::remove_if(c.subs.begin(), c.subs.end(), [&](const subscription& x) { return x.s == &s; }),
        c.subs.end());
    auto& v = s.topic.subscribers;
    v.erase(std::remove(v.begin(), v.end(), &c), v.end());
  }

  // "*": every stream of `streams` now (each with its snapshot), and every stream created later.
  void subscribe_all(subscriber& c, registry& streams) {
    if (!c.wildcard) {
      c.wildcard = true;
      wildcard_.push_back(&c);
    }
    streams.for_each([&](std::string_view /*name*/, stream& s) { subscribe(c, s); });
  }

  void unsubscribe_all(subscriber& c) {
    drop_wildcard(c);
    while (!c.subs.empty()) {
      unsubscribe(c, *c.subs.back().s);
    }
  }

  // A new stream: the "*" subscribers join it (its first snapshot comes with the next flush; it is
  // empty now).
  void stream_created(stream& s) {
    for (subscriber* w : wildcard_) {
      subscribe(*w, s, false);
    }
  }

  // `c` is going away: no stream refers to it afterwards.
  void remove(subscriber& c) {
    for (const subscription& sub : c.subs) {
      auto& v = sub.s->topic.subscribers;
      v.erase(std::remove(v.begin(), v.end(), &c), v.end());
    }
    c.subs.clear();
    drop_wildcard(c);
  }

  // ---- delivery ----------------------------------------------------------------------------------

  // The snapshot of `s` as a shared message, rebuilt only when the stream changed since the last one.
  const message& snapshot_message(stream& s) {
    if (s.topic.cached_version != s.version || s.topic.cached_version == 0) {
      out_.clear();
      write_snapshot(s, out_, {});
      s.topic.cached = link_.prepare(out_);
      s.topic.cached_version = s.version;
    }
    return s.topic.cached;
  }

  // The reply to a "snapshot" request (carries the request's id, so it is not the shared one).
  bool send_snapshot(subscriber& c, const stream& s, std::string_view id) {
    out_.clear();
    write_snapshot(s, out_, id);
    if (send_text(c, out_)) {
      counters_.snapshots.add();
      return true;
    }
    return false;
  }

  // The snapshot tick for one connection: each subscribed stream that changed since the snapshot
  // `c` has (every one when `final_flush`) is sent, or held back (coalesced: a newer version
  // replaces the waiting one) while `c` is over the bound. Records the peak send queue.
  void flush(subscriber& c, bool final_flush) {
    const std::uint64_t queued = link_.queued(c.con);
    if (queued > counters_.peak_queued.get()) {
      counters_.peak_queued.set(queued);
    }
    for (subscription& sub : c.subs) {
      stream& s = *sub.s;
      if (!final_flush && sub.sent_version == s.version) {
        continue;
      }
      if (send(c, snapshot_message(s))) {
        sub.sent_version = s.version;
        sub.pending_version = 0;
        counters_.snapshots.add();
      } else {
        sub.pending_version = s.version;  // send() already counted this attempt as a drop
      }
    }
  }

  // Sample `index` of `s` (value `value`, time `t`) started an alert episode: every subscriber of
  // `s` gets it now (one message framed once; dropped for those over the bound).
  void alert(stream& s, std::uint64_t index, double value, double t, const alert_info& a) {
    if (s.topic.subscribers.empty()) {
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
    const message msg = link_.prepare(out_);
    for (subscriber* c : s.topic.subscribers) {
      if (send(*c, msg)) {
        counters_.alerts.add();
      }
    }
  }

  // The snapshot message of docs/protocol.md.
  static void write_snapshot(const stream& s, std::string& out, std::string_view id) {
    json_writer w(out);
    w.begin_object();
    w.member_string("type", "snapshot");
    w.member_string("stream", s.name);
    w.member_uint("count", s.counters.count);
    w.member_uint("rejected", s.counters.rejected);
    w.member_number("last", s.counters.last);
    w.member_number("t", s.counters.t);
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

 private:
  bool over_bound(subscriber& c) {
    if (link_.queued(c.con) > max_queued_bytes_) {
      ++c.dropped;
      counters_.dropped.add();
      link_.dropped(c.con);
      return true;
    }
    return false;
  }

  void drop_wildcard(subscriber& c) {
    if (c.wildcard) {
      c.wildcard = false;
      wildcard_.erase(std::remove(wildcard_.begin(), wildcard_.end(), &c), wildcard_.end());
    }
  }

  Link link_;
  std::size_t max_queued_bytes_;
  std::vector<subscriber*> wildcard_;
  counters counters_;
  std::string out_;  // reused message buffer
};

}  // namespace streamstats::websocket
