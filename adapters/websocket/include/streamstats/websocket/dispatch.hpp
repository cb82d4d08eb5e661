// streamstats::websocket dispatch — from a decoded client message to what the server does about it,
// the per-connection rate limits that come first, and the replies' wire form.
// SPDX-License-Identifier: MIT
//
// Step 3 of a message's way (transport → access → dispatch → registry → fan-out → HTTP).
// protocol.hpp decodes (the code the fuzz target runs); dispatch() routes the result to one call
// of a handler, so the routing is tested with a recording handler and no socket:
//
//   struct Handler {
//     void invalid(const request& partial, const request_error&);  // decode failed
//     void push(std::string_view stream, const double* v, std::size_t n, double t, std::string_view id,
//               const producer_seq& origin);  // origin.seq == 0: not numbered
//     void list(const request&);
//     void subscribe_all(const request&);    // subscribe "*"
//     void unsubscribe_all(const request&);  // unsubscribe "*"
//     void on_stream(const request&);        // subscribe, unsubscribe or snapshot of one stream
//   };
#pragma once

#include <streamstats/websocket/json_writer.hpp>
#include <streamstats/websocket/protocol.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace streamstats::websocket {

// A token bucket of `rate` tokens per second, burst = one second's worth. take() draws `cost` when
// at least `need` tokens are there (need ≤ cost lets a request cost more than a full bucket and
// leave it in debt).
class token_bucket {
 public:
  using clock = std::chrono::steady_clock;

  void reset(double rate, clock::time_point now) noexcept {
    tokens_ = rate;
    refill_ = now;
  }
  [[nodiscard]] bool take(double rate, double need, double cost, clock::time_point now) noexcept {
    tokens_ = std::min(rate, tokens_ + std::chrono::duration<double>(now - refill_).count() * rate);
    refill_ = now;
    if (tokens_ < need) {
      return false;
    }
    tokens_ -= cost;
    return true;
  }

 private:
  double tokens_ = 0.0;
  clock::time_point refill_{};
};

// Decodes a text frame with `parser` and makes the one call of `h` it asks for.
template <typename Handler>
void dispatch_text(request_parser& parser, std::string_view payload, Handler& h) {
  request req;
  request_error err;
  if (!parser.parse(payload, req, err)) {
    h.invalid(req, err);
    return;
  }
  switch (req.type) {
    case request_type::list:
      h.list(req);
      return;
    case request_type::push: {
      const double* values = req.single ? &req.value : parser.values().data();
      const std::size_t n = req.single ? 1 : parser.values().size();
      h.push(req.stream, values, n, req.has_t ? req.t : std::nan(""), req.id, req.origin);
      return;
    }
    case request_type::snapshot:
      h.on_stream(req);  // "*" is no stream name for a snapshot: on_stream answers unknown_stream
      return;
    case request_type::subscribe:
    case request_type::unsubscribe:
      if (req.stream == "*") {
        if (req.type == request_type::subscribe) {
          h.subscribe_all(req);
        } else {
          h.unsubscribe_all(req);
        }
      } else {
        h.on_stream(req);
      }
      return;
  }
}

// Decodes a binary frame (a batch for one stream) and makes the one call of `h` it asks for.
template <typename Handler>
void dispatch_binary(request_parser& parser, std::string_view payload, Handler& h) {
  request req;
  request_error err;
  if (!parser.parse_binary(payload, req, err)) {
    h.invalid(req, err);
    return;
  }
  h.push(req.stream, parser.values().data(), parser.values().size(), std::nan(""), std::string_view{},
         req.origin);
}

// ---- the replies (docs/protocol.md) --------------------------------------------------------------

inline void write_error(std::string& out, error_code code, std::string_view message, std::string_view id) {
  json_writer w(out);
  w.begin_object();
  w.member_string("type", "error");
  w.member_string("code", to_string(code));
  w.member_string("message", message);
  if (!id.empty()) {
    w.key("id");
    w.value_raw(id);
  }
  w.end_object();
}

inline void write_ack(std::string& out, std::string_view stream, std::uint64_t accepted,
                      std::string_view id) {
  json_writer w(out);
  w.begin_object();
  w.member_string("type", "ack");
  w.member_string("stream", stream);
  w.member_uint("accepted", accepted);
  w.key("id");
  w.value_raw(id);
  w.end_object();
}

// The ack of a numbered push (one with a producer id and a sequence number): `accepted` samples
// appended now (0 for a duplicate), the push's seq, the index of the batch's first sample in the
// stream when known, and "duplicate":true for a batch that was already appended.
struct push_ack {
  std::uint64_t accepted = 0;
  std::uint64_t seq = 0;
  bool has_first = false;
  std::uint64_t first = 0;
  bool duplicate = false;
};

inline void write_ack(std::string& out, std::string_view stream, const push_ack& a, std::string_view id) {
  json_writer w(out);
  w.begin_object();
  w.member_string("type", "ack");
  w.member_string("stream", stream);
  w.member_uint("accepted", a.accepted);
  w.member_uint("seq", a.seq);
  if (a.has_first) {
    w.member_uint("first", a.first);
  }
  if (a.duplicate) {
    w.key("duplicate");
    w.value_bool(true);
  }
  if (!id.empty()) {
    w.key("id");
    w.value_raw(id);
  }
  w.end_object();
}

inline void write_subscription_ack(std::string& out, const request& req) {
  json_writer w(out);
  w.begin_object();
  w.member_string("type", req.type == request_type::subscribe ? "subscribed" : "unsubscribed");
  w.member_string("stream", req.stream);
  if (!req.id.empty()) {
    w.key("id");
    w.value_raw(req.id);
  }
  w.end_object();
}

// The totals that end a "list" reply.
struct list_totals {
  std::size_t max_listed = 256;     // server_options::max_list_streams
  std::uint64_t rejected = 0;       // requests rejected, server-wide
  std::uint64_t dropped = 0;        // dropped on this connection
  std::uint64_t dropped_total = 0;  // dropped, server-wide
};

namespace detail {
// The members after a list's "streams" array: totals, truncation, the connection's counters, id.
template <class Writer, class Totals>
void write_list_tail(Writer& w, std::size_t total, const Totals& t, std::string_view id) {
  w.member_uint("total", total);
  if (total > t.max_listed) {
    w.key("truncated");
    w.value_bool(true);
  }
  w.member_uint("rejected", t.rejected);
  w.member_uint("dropped", t.dropped);
  w.member_uint("dropped_total", t.dropped_total);
  if (!id.empty()) {
    w.key("id");
    w.value_raw(id);
  }
  w.end_object();
}
}  // namespace detail

// The "list" reply: the streams of `streams` (a stream_registry) in name order, at most
// t.max_listed of them, with "total" and "truncated". With `visible` (a JWT's subscribe rights),
// only the streams it accepts are named and counted; that pass visits every stream, so the server
// uses it only for connections whose rights are not "*".
template <typename Registry, typename Visible>
void write_list(std::string& out, const Registry& streams, const list_totals& t, std::string_view id,
                Visible&& visible, bool filtered) {
  json_writer w(out);
  w.begin_object();
  w.member_string("type", "streams");
  w.key("streams");
  w.begin_array();
  std::size_t listed = 0;
  std::size_t total = filtered ? 0 : streams.size();
  streams.for_each([&](std::string_view name, const auto& s) {
    if (filtered) {
      if (!visible(name)) {
        return true;
      }
      ++total;
    }
    if (listed == t.max_listed) {
      return filtered;  // unfiltered: done; filtered: keep counting the total
    }
    ++listed;
    w.begin_object();
    w.member_string("name", name);
    w.member_uint("count", s.counters.count);
    w.member_uint("rejected", s.counters.rejected);
    w.member_uint("subscribers", s.topic.subscribers.size());
    w.end_object();
    return true;
  });
  w.end_array();
  detail::write_list_tail(w, total, t, id);
}

template <typename Registry>
void write_list(std::string& out, const Registry& streams, const list_totals& t, std::string_view id) {
  write_list(
      out, streams, t, id, [](std::string_view /*name*/) { return true; }, false);
}

// One stream of a "list" reply gathered from several io threads.
struct list_entry {
  std::string name;
  std::uint64_t count = 0;
  std::uint64_t rejected = 0;
  std::uint64_t subscribers = 0;
};

// The "list" reply from entries already in name order (at most t.max_listed are written) and the
// number of streams that exist.
inline void write_list_entries(std::string& out, const std::vector<list_entry>& entries, std::size_t total,
                               const list_totals& t, std::string_view id) {
  json_writer w(out);
  w.begin_object();
  w.member_string("type", "streams");
  w.key("streams");
  w.begin_array();
  for (std::size_t i = 0; i < entries.size() && i < t.max_listed; ++i) {
    w.begin_object();
    w.member_string("name", entries[i].name);
    w.member_uint("count", entries[i].count);
    w.member_uint("rejected", entries[i].rejected);
    w.member_uint("subscribers", entries[i].subscribers);
    w.end_object();
  }
  w.end_array();
  detail::write_list_tail(w, total, t, id);
}

}  // namespace streamstats::websocket
