// streamstats::websocket::redis — the per-stream log in Redis: keys, the Lua scripts, and ingest.
// SPDX-License-Identifier: MIT
//
// One stream `name` is four keys with the same hash tag, so that Redis Cluster keeps them in one
// slot (the scripts touch several of them atomically) and one shard owns the stream:
//   <prefix>:{name}:log     Redis Stream; one entry per batch: i = index of its first sample,
//                           d = the samples, little-endian IEEE float64, 8 bytes each,
//                           t = the batch's time when the append gave one (Unix seconds, "%.17g":
//                           its first sample's, as a push's "t" — the server sends the push's "t"
//                           or its arrival time), so that every owner applies it with the same time
//   <prefix>:{name}:meta    hash: epoch, next (the next sample index), replid (see below)
//   <prefix>:{name}:lease   the owner's token, SET NX PX (lease.hpp)
//   <prefix>:{name}:state   hash: state (save_state bytes), id (last applied entry), next, epoch
//   <prefix>:{name}:p:<id>  hash: a producer's last sequence number and its answer (idempotent
//                           retries; expires a day after the producer's last batch)
// and the Pub/Sub channel <prefix>:{name}:snap, where the owner publishes what it stored.
//
// Ingest is one script (Centrifugo's publish pattern): it checks the payload, assigns the batch's
// sample indices and the stream's epoch, and XADDs, all atomically. The epoch is a random id chosen
// when the meta hash is created, and chosen anew when the Redis server the script runs on is not
// the one that created it (its replication id differs: a restart, or a replica promoted after a
// failover). A new epoch tells producers and owners that what was acknowledged under the old one
// may be gone (docs/scale-out.md, "What asynchronous replication can lose").
#pragma once

#include <streamstats/websocket/redis/connection.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace streamstats::websocket::redis {

struct stream_keys {
  std::string log, meta, lease, state, channel;
  std::string producer_prefix;  // + producer id: the producer's last sequence number (ingest script)

  // Stream names may not contain '{' or '}' (they would break the hash tag).
  static stream_keys of(std::string_view name, std::string_view prefix = "ss") {
    if (name.empty() || name.find_first_of("{}") != std::string_view::npos)
      throw std::invalid_argument("streamstats redis: a stream name must be non-empty, without '{' or '}'");
    std::string base = std::string(prefix) + ":{" + std::string(name) + "}:";
    return {base + "log", base + "meta", base + "lease", base + "state", base + "snap", base + "p:"};
  }
};

namespace scripts {

// KEYS: log, meta, producer key (the meta key again when no producer id is given).
// ARGV: payload, candidate epoch, the caller's view of the server's replid, producer id ('' for
// none), the producer's sequence number for this batch, the batch's time ('' for none; stored as
// the entry's field t).
// Returns {entry id, first index, count, epoch, duplicate (0/1)}.
//
// With a producer id, the script remembers the producer's last sequence number and its answer
// (<prefix>:{name}:p:<id>, expiring after a day), so that a batch sent again after an
// "unavailable" is not appended twice: the same sequence number gets the first answer back with
// duplicate = 1, and a lower one (appended before the last; its answer is no longer kept) gets
// duplicate = 1 with an empty id. A number beyond last + 1 is refused with the error
// "OUTOFORDER <last>" and not appended: a batch before it is missing (its append failed), and
// accepting this one would make the retry of the missing one look like a duplicate. (A producer the
// script does not know — new, or expired — may start at any number.) A producer numbers its batches
// 1, 2, 3... and retries its unacknowledged ones in order, from the first: then everything at or
// below its last number is in the log, whatever it had in flight when an append failed.
inline constexpr std::string_view ingest = R"lua(
local d = ARGV[1]
local n = #d / 8
if #d == 0 or #d % 8 ~= 0 then
  return redis.error_reply('ERR payload must be a non-empty multiple of 8 bytes')
end
local seq = tonumber(ARGV[5])
if ARGV[4] ~= '' then
  local last = redis.call('HMGET', KEYS[3], 'seq', 'id', 'first', 'n', 'epoch')
  if last[1] then
    local lseq = tonumber(last[1])
    if seq == lseq then
      return {last[2], tonumber(last[3]), tonumber(last[4]), last[5], 1}
    elseif seq < lseq then
      return {'', 0, 0, last[5], 1}
    elseif seq ~= lseq + 1 then
      return redis.error_reply('OUTOFORDER ' .. last[1])
    end
  end
end
local m = redis.call('HMGET', KEYS[2], 'epoch', 'replid')
local epoch = m[1]
if not epoch or (ARGV[3] ~= '' and m[2] ~= ARGV[3]) then
  epoch = ARGV[2]
  redis.call('HSET', KEYS[2], 'epoch', epoch, 'replid', ARGV[3])
end
local first = redis.call('HINCRBY', KEYS[2], 'next', n) - n
local id
if ARGV[6] ~= nil and ARGV[6] ~= '' then
  id = redis.call('XADD', KEYS[1], '*', 'i', first, 'd', d, 't', ARGV[6])
else
  id = redis.call('XADD', KEYS[1], '*', 'i', first, 'd', d)
end
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[3], 'seq', ARGV[5], 'id', id, 'first', first, 'n', n, 'epoch', epoch)
  redis.call('PEXPIRE', KEYS[3], 86400000)
end
return {id, first, n, epoch, 0}
)lua";

// KEYS: lease, state, log, meta. ARGV: token, state bytes, last applied id, next index, epoch, trim
// (0/1), channel ('' for none). Fenced by the lease: a stale owner (paused past its lease, then back)
// cannot overwrite the state of the owner that replaced it, nor publish. The message published is
// "<next> <id> <epoch>\n" followed by the state bytes. An empty epoch (an owner that loaded before
// the stream's first sample, when the log had no epoch yet) is the log's epoch from the meta key.
// Returns the epoch stored.
inline constexpr std::string_view store = R"lua(
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('NOTOWNER lease not held')
end
local epoch = ARGV[5]
if epoch == '' then
  epoch = redis.call('HGET', KEYS[4], 'epoch') or ''
end
redis.call('HSET', KEYS[2], 'state', ARGV[2], 'id', ARGV[3], 'next', ARGV[4], 'epoch', epoch)
if ARGV[6] == '1' then
  redis.call('XTRIM', KEYS[3], 'MINID', ARGV[3])
end
if ARGV[7] ~= '' then
  redis.call('PUBLISH', ARGV[7], ARGV[4] .. ' ' .. ARGV[3] .. ' ' .. epoch .. '\n' .. ARGV[2])
end
return epoch
)lua";

// KEYS: lease. ARGV: token, ttl ms. 1 when renewed, 0 when the lease is not ours.
inline constexpr std::string_view renew = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
)lua";

// KEYS: lease. ARGV: token.
inline constexpr std::string_view release = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
)lua";

}  // namespace scripts

namespace detail {
inline std::string random_token() {
  std::random_device rd;
  std::mt19937_64 g((static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^
                    static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  static constexpr char hex[] = "0123456789abcdef";
  std::string s(16, '0');
  std::uint64_t v = g();
  for (auto& c : s) {
    c = hex[v & 15u];
    v >>= 4;
  }
  return s;
}

inline bool parse_u64(std::string_view s, std::uint64_t& out) noexcept {
  if (s.empty() || s.size() > 19)
    return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  out = v;
  return true;
}
}  // namespace detail

// What the owner publishes on <prefix>:{name}:snap after each stored state: "<next> <id> <epoch>\n"
// then the state bytes (load_state them). parse_snapshot is false for anything else.
struct snapshot {
  std::uint64_t next = 0;
  std::string_view id, epoch, state;
};
inline bool parse_snapshot(std::string_view msg, snapshot& out) noexcept {
  const auto nl = msg.find('\n');
  if (nl == std::string_view::npos)
    return false;
  const std::string_view head = msg.substr(0, nl);
  const auto s1 = head.find(' ');
  const auto s2 = s1 == std::string_view::npos ? s1 : head.find(' ', s1 + 1);
  if (s2 == std::string_view::npos || !detail::parse_u64(head.substr(0, s1), out.next))
    return false;
  out.id = head.substr(s1 + 1, s2 - s1 - 1);
  out.epoch = head.substr(s2 + 1);
  out.state = msg.substr(nl + 1);
  return true;
}

// What an append returns: ok with the batch's place in the stream, or an error. "unavailable" means
// no acknowledgement (Redis down, connection lost, timeout): the batch may or may not be in the
// log. Anything else is Redis' refusal (bad payload, out of memory...), and the batch is not.
struct append_result {
  bool ok = false;
  std::string error;
  std::string id;           // the log entry's id
  std::uint64_t first = 0;  // index of the batch's first sample
  std::uint64_t count = 0;
  std::string epoch;
  bool duplicate = false;  // a retry of a batch already in the log (producer id + sequence)
  // Not appended: the producer's sequence number skips numbers after its last one; `last_seq` is
  // that last one (error "OUTOFORDER <last>").
  bool out_of_order = false;
  std::uint64_t last_seq = 0;
};

class stream_log {
 public:
  explicit stream_log(connection& c, std::string prefix = "ss") : c_(c), prefix_(std::move(prefix)) {}

  // Appends n doubles to stream `name` as one log entry. The handler is called once, later.
  // With a producer id (unique per producer, e.g. node + connection) and a sequence number per
  // batch (1, 2, 3...), a batch sent again after "unavailable" is appended at most once.
  // t: the batch's time (Unix seconds, its first sample's), stored with the entry and passed by the
  // owner to an accumulator that takes one (owner.hpp); NaN or ±Inf: none stored.
  void append(std::string_view name, const double* data, std::size_t n,
              std::function<void(const append_result&)> h, std::string_view producer = {},
              std::uint64_t seq = 0, double t = std::numeric_limits<double>::quiet_NaN()) {
    std::string bytes(n * sizeof(double), '\0');
    static_assert(sizeof(double) == 8, "IEEE binary64 expected");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (n != 0)
      std::memcpy(bytes.data(), data, bytes.size());
#else
    for (std::size_t i = 0; i < n; ++i) {
      std::uint64_t u;
      std::memcpy(&u, data + i, 8);
      for (int b = 0; b < 8; ++b)
        bytes[i * 8 + static_cast<std::size_t>(b)] = static_cast<char>((u >> (8 * b)) & 0xffu);
    }
#endif
    append_bytes(name, bytes, std::move(h), producer, seq, t);
  }

  // The same with the wire form (what a binary WebSocket batch already is): little-endian float64.
  void append_bytes(std::string_view name, std::string_view le_doubles,
                    std::function<void(const append_result&)> h, std::string_view producer = {},
                    std::uint64_t seq = 0, double t = std::numeric_limits<double>::quiet_NaN()) {
    const stream_keys k = stream_keys::of(name, prefix_);
    const std::string epoch = detail::random_token();
    const std::string pkey = producer.empty() ? k.meta : k.producer_prefix + std::string(producer);
    const std::string seq_s = std::to_string(seq);
    char t_s[32] = "";
    if (std::isfinite(t))
      std::snprintf(t_s, sizeof t_s, "%.17g", t);
    c_.command({"EVAL", scripts::ingest, "3", k.log, k.meta, pkey, le_doubles, epoch, c_.server_replid(),
                producer, seq_s, t_s},
               [h = std::move(h)](const redisReply* r) {
                 append_result res;
                 if (r == nullptr) {
                   res.error = "unavailable";
                 } else if (r->type == REDIS_REPLY_ERROR) {
                   res.error = std::string(reply_str(r));
                   constexpr std::string_view ooo = "OUTOFORDER ";
                   if (res.error.compare(0, ooo.size(), ooo) == 0) {
                     res.out_of_order = true;
                     (void)detail::parse_u64(std::string_view(res.error).substr(ooo.size()), res.last_seq);
                   }
                 } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 5) {
                   res.ok = true;
                   res.duplicate = r->element[4]->integer == 1;
                   res.id = std::string(reply_str(r->element[0]));
                   res.first = static_cast<std::uint64_t>(r->element[1]->integer);
                   res.count = static_cast<std::uint64_t>(r->element[2]->integer);
                   res.epoch = std::string(reply_str(r->element[3]));
                 } else {
                   res.error = "unexpected reply";
                 }
                 if (h)
                   h(res);
               });
  }

  [[nodiscard]] const std::string& prefix() const noexcept { return prefix_; }
  [[nodiscard]] bool available() const noexcept { return c_.ready(); }

 private:
  connection& c_;
  std::string prefix_;
};

}  // namespace streamstats::websocket::redis
