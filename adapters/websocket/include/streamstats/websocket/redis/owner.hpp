// streamstats::websocket::redis — the owner of a stream: applies its log, in order, exactly once.
// SPDX-License-Identifier: MIT
//
//   redis::owner<streamstats::multi<variance<double>, extrema<double>>> o(conn, {"temperature"});
//   o.on_applied = [](const auto& acc, std::uint64_t next) { ... };
//   o.start();
//
// The loop, while the stream's lease is held (lease.hpp):
//   1. on acquiring the lease: load the stored state and the id of the last entry it includes
//      (none: a fresh accumulator, id 0-0);
//   2. XREAD COUNT read_count BLOCK block STREAMS log <last id>;
//   3. push every entry's samples, in log order, into the accumulator (with the entry's time);
//   4. store state + last id + next index in one fenced script (refused unless the lease is still
//      ours), trim the log behind that id, publish the stored state (same script, same fence);
//      pipelined with the next XREAD.
// The stored state always covers exactly the log's entries up to its id (one script writes both),
// so a successor that loads it and reads on from that id counts every sample once: entries after
// the id were not in the state, entries up to it were. What the dead owner had applied without
// storing is simply applied again from the log.
//
// The connection must outlive the owner.
//
// Acc is anything with push(first, last, t), push(first, last) or push(double), and a state codec;
// push(first, last, t) gets the entry's time t (Unix seconds, the batch's first sample's: the field
// t the append stored, NaN for an entry without one), so that every owner — this one, or a successor
// replaying the log after a failover — applies each batch with the same time. By default
// streamstats::save_state / load_state (the loaded state keeps the initial object's run-time
// configuration where the format carries none). Specialise state_codec for other types.
#pragma once

#include <streamstats/state.hpp>
#include <streamstats/websocket/redis/lease.hpp>
#include <streamstats/websocket/redis/stream_log.hpp>

#include <asio/steady_timer.hpp>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace streamstats::websocket::redis {

template <class Acc>
struct state_codec {
  static std::string save(const Acc& a) { return streamstats::save_state(a); }
  // Loads into `a` (a copy of the initial object); a message when the bytes are refused.
  static std::string load(std::string_view bytes, Acc& a) {
    const state_errc ec = streamstats::load_state(bytes, a);
    return ec == state_errc::ok ? std::string() : std::string(state_errc_message(ec));
  }
};

struct owner_options {
  std::string stream;
  std::string prefix = "ss";
  std::string token;  // empty: a random one (each owner object must have its own)
  std::chrono::milliseconds lease_ttl{1000};
  std::size_t read_count = 128;  // log entries per XREAD
  // XREAD BLOCK; keep it well below the command timeout and the TTL. A blocked XREAD holds its
  // connection: owners that share one connection should poll instead (block = 0: XREAD without
  // BLOCK, again after `poll` when the log had nothing new).
  std::chrono::milliseconds block{100};
  std::chrono::milliseconds poll{5};
  bool trim = true;     // XTRIM MINID behind each stored state
  bool publish = true;  // PUBLISH the stored state on the stream's channel
};

namespace detail {
template <class A, class = void>
struct has_range_push : std::false_type {};
template <class A>
struct has_range_push<A, std::void_t<decltype(std::declval<A&>().push(std::declval<const double*>(),
                                                                      std::declval<const double*>()))>>
    : std::true_type {};
template <class A, class = void>
struct has_timed_push : std::false_type {};
template <class A>
struct has_timed_push<A, std::void_t<decltype(std::declval<A&>().push(std::declval<const double*>(),
                                                                      std::declval<const double*>(), 0.0))>>
    : std::true_type {};
// The entry's field t ("%.17g"); NaN when absent or not a finite number.
inline double parse_time(std::string_view s) noexcept {
  if (s.empty() || s.size() > 40)
    return std::numeric_limits<double>::quiet_NaN();
  char buf[41];
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  char* end = nullptr;
  const double v = std::strtod(buf, &end);
  return end == buf + s.size() && std::isfinite(v) ? v : std::numeric_limits<double>::quiet_NaN();
}
}  // namespace detail

template <class Acc, class Codec = state_codec<Acc>>
class owner {
 public:
  owner(connection& c, owner_options o, Acc initial = Acc{})
      : c_(c),
        opt_(std::move(o)),
        keys_(stream_keys::of(opt_.stream, opt_.prefix)),
        token_(opt_.token.empty() ? detail::random_token() : opt_.token),
        lease_(c, keys_.lease, token_, opt_.lease_ttl),
        poll_timer_(c.io()),
        initial_(std::move(initial)),
        acc_(initial_) {
    lease_.on_acquired = [this] { load(); };
    lease_.on_lost = [this] {
      ++gen_;
      owning_ = false;
      reading_ = false;
      if (on_lost)
        on_lost();
    };
    listener_ = c_.on_state([this, w = std::weak_ptr<char>(life_)](bool up) {
      if (!w.expired() && up && owning_ && !reading_)
        read();  // resume where the lost connection stopped
    });
  }
  owner(const owner&) = delete;
  owner& operator=(const owner&) = delete;
  ~owner() {
    life_.reset();
    c_.remove_state_listener(listener_);
  }

  std::function<void()> on_acquired;                               // state loaded, applying
  std::function<void()> on_lost;                                   // lease lost: applying stopped
  std::function<void(const Acc&, std::uint64_t next)> on_applied;  // after each stored state
  std::function<void(std::string_view)> on_event;                  // gaps, epoch changes, refused data

  void start() { lease_.start(); }
  // Stops applying. release = false leaves the lease to lapse (what a crash looks like to others).
  void stop(bool release = true) {
    ++gen_;
    owning_ = false;
    reading_ = false;
    lease_.stop(release);
  }

  [[nodiscard]] bool owning() const noexcept { return owning_ && lease_.held(); }
  [[nodiscard]] const Acc& state() const noexcept { return acc_; }
  [[nodiscard]] std::uint64_t next_index() const noexcept { return next_; }
  [[nodiscard]] const std::string& last_id() const noexcept { return last_id_; }
  [[nodiscard]] const std::string& epoch() const noexcept { return epoch_; }
  [[nodiscard]] std::uint64_t stores() const noexcept { return stores_; }
  [[nodiscard]] std::uint64_t applied_entries() const noexcept { return entries_; }
  [[nodiscard]] const stream_keys& keys() const noexcept { return keys_; }
  [[nodiscard]] const std::string& token() const noexcept { return token_; }

 private:
  bool current(std::uint64_t g, const std::weak_ptr<char>& w) const { return !w.expired() && g == gen_; }

  void event(std::string_view what) {
    if (on_event)
      on_event(what);
  }

  void load() {
    const std::uint64_t g = ++gen_;
    auto w = std::weak_ptr<char>(life_);
    auto stored = std::make_shared<std::vector<std::string>>();
    auto has_state = std::make_shared<bool>(false);
    c_.command({"HMGET", keys_.state, "state", "id", "next", "epoch"},
               [this, g, w, stored, has_state](const redisReply* r) {
                 if (!current(g, w) || r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements != 4)
                   return;
                 *has_state = r->element[0]->type == REDIS_REPLY_STRING;
                 for (std::size_t i = 0; i < 4; ++i)
                   stored->emplace_back(reply_str(r->element[i]));
               });
    c_.command({"HGET", keys_.meta, "epoch"}, [this, g, w, stored, has_state](const redisReply* r) {
      if (!current(g, w))
        return;
      if (r == nullptr || stored->size() != 4) {
        // No answer: give the lease back to the clock; the next acquire loads again.
        lease_.lost();
        return;
      }
      Acc a = initial_;
      std::string id = "0-0";
      std::uint64_t next = 0;
      if (*has_state) {
        if (std::string err = Codec::load((*stored)[0], a); !err.empty()) {
          // A state that does not load would fail every successor too: say so, apply nothing.
          event("stored state refused: " + err);
          stop(true);
          return;
        }
        id = (*stored)[1];
        if (!detail::parse_u64((*stored)[2], next))
          next = 0;
      }
      std::string log_epoch(reply_str(r));
      if (*has_state && !log_epoch.empty() && log_epoch != (*stored)[3])
        event("epoch changed from " + (*stored)[3] + " to " + log_epoch +
              ": samples acknowledged under the old epoch after the stored state may be lost");
      acc_ = std::move(a);
      last_id_ = std::move(id);
      next_ = next;
      epoch_ = log_epoch.empty() ? (*stored)[3] : log_epoch;
      owning_ = true;
      if (on_acquired)
        on_acquired();
      read();
    });
  }

  void read() {
    if (!owning_ || !lease_.held())
      return;
    reading_ = true;
    const std::uint64_t g = gen_;
    auto w = std::weak_ptr<char>(life_);
    const std::string count = std::to_string(opt_.read_count);
    const std::string block = std::to_string(opt_.block.count());
    std::vector<std::string_view> args = {"XREAD", "COUNT",   count,     "BLOCK",
                                          block,   "STREAMS", keys_.log, last_id_};
    if (opt_.block.count() == 0)
      args.erase(args.begin() + 3, args.begin() + 5);  // polling: no BLOCK
    c_.command(args, [this, g, w](const redisReply* r) {
      if (!current(g, w))
        return;
      if (r == nullptr) {
        reading_ = false;  // resumed by the connection's "up", if the lease survives
        return;
      }
      if (!lease_.held()) {
        reading_ = false;
        return;
      }
      if (r->type == REDIS_REPLY_ERROR) {
        event("XREAD refused: " + std::string(reply_str(r)));
        reading_ = false;
        return;
      }
      const bool any = apply(r);
      if (any)
        store();
      if (any || opt_.block.count() != 0) {
        read();
        return;
      }
      // Polling and nothing new: ask again after `poll`.
      poll_timer_.expires_after(opt_.poll);
      poll_timer_.async_wait([this, g, w](const std::error_code& ec) {
        if (!ec && current(g, w))
          read();
      });
    });
  }

  // XREAD's reply: [[key, [[id, [field, value, ...]], ...]]], or nil after BLOCK ms without data.
  bool apply(const redisReply* r) {
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0)
      return false;
    const redisReply* s = r->element[0];
    if (s->type != REDIS_REPLY_ARRAY || s->elements != 2 || s->element[1]->type != REDIS_REPLY_ARRAY)
      return false;
    const redisReply* entries = s->element[1];
    for (std::size_t e = 0; e < entries->elements; ++e) {
      const redisReply* en = entries->element[e];
      if (en->type != REDIS_REPLY_ARRAY || en->elements != 2)
        continue;
      std::string_view id = reply_str(en->element[0]);
      const redisReply* f = en->element[1];
      std::string_view idx, data, stamp;
      bool has_d = false;
      if (f->type == REDIS_REPLY_ARRAY) {
        for (std::size_t k = 0; k + 1 < f->elements; k += 2) {
          std::string_view name = reply_str(f->element[k]);
          if (name == "i")
            idx = reply_str(f->element[k + 1]);
          if (name == "t")
            stamp = reply_str(f->element[k + 1]);
          if (name == "d") {
            data = reply_str(f->element[k + 1]);
            has_d = true;
          }
        }
      }
      last_id_ = std::string(id);
      std::uint64_t first = 0;
      if (!has_d || data.size() % 8 != 0 || !detail::parse_u64(idx, first)) {
        event("log entry " + last_id_ + " is not a sample batch: skipped");
        continue;
      }
      if (first != next_)
        event("log entry " + last_id_ + " starts at index " + std::to_string(first) + ", expected " +
              std::to_string(next_) +
              (first > next_ ? " (a gap: lost or trimmed)" : " (indices reused after a rollback)"));
      const std::size_t n = data.size() / 8;
      buf_.resize(n);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
      std::memcpy(buf_.data(), data.data(), data.size());
#else
      for (std::size_t i = 0; i < n; ++i) {
        std::uint64_t u = 0;
        for (int b = 7; b >= 0; --b)
          u = (u << 8) | static_cast<unsigned char>(data[i * 8 + static_cast<std::size_t>(b)]);
        std::memcpy(&buf_[i], &u, 8);
      }
#endif
      if constexpr (detail::has_timed_push<Acc>::value) {
        acc_.push(buf_.data(), buf_.data() + n, detail::parse_time(stamp));
      } else if constexpr (detail::has_range_push<Acc>::value) {
        acc_.push(buf_.data(), buf_.data() + n);
      } else {
        for (double x : buf_)
          acc_.push(x);
      }
      next_ = first + n;
      ++entries_;
    }
    return true;
  }

  void store() {
    const std::uint64_t g = gen_;
    auto w = std::weak_ptr<char>(life_);
    std::string bytes = Codec::save(acc_);
    const std::string next = std::to_string(next_);
    c_.command({"EVAL", scripts::store, "4", keys_.lease, keys_.state, keys_.log, keys_.meta, token_, bytes,
                last_id_, next, epoch_, opt_.trim ? "1" : "0",
                opt_.publish ? std::string_view(keys_.channel) : std::string_view()},
               [this, g, w, next = next_](const redisReply* r) {
                 if (!current(g, w) || r == nullptr)
                   return;  // no answer: the next store covers it
                 if (r->type == REDIS_REPLY_ERROR) {
                   if (reply_str(r).substr(0, 8) == "NOTOWNER") {
                     lease_.lost();
                   } else {
                     event("state store refused: " + std::string(reply_str(r)));
                   }
                   return;
                 }
                 if (epoch_.empty() && r->type == REDIS_REPLY_STRING)
                   epoch_ = std::string(reply_str(r));  // loaded before the log had an epoch
                 ++stores_;
                 if (on_applied)
                   on_applied(acc_, next);
               });
  }

  connection& c_;
  owner_options opt_;
  stream_keys keys_;
  std::string token_;
  lease lease_;
  asio::steady_timer poll_timer_;
  Acc initial_;
  Acc acc_;
  std::string last_id_ = "0-0";
  std::string epoch_;
  std::uint64_t next_ = 0;
  std::uint64_t gen_ = 0;
  std::uint64_t listener_ = 0;
  std::uint64_t stores_ = 0;
  std::uint64_t entries_ = 0;
  bool owning_ = false;
  bool reading_ = false;
  std::vector<double> buf_;
  std::shared_ptr<char> life_ = std::make_shared<char>();
};

}  // namespace streamstats::websocket::redis
