// streamstats::websocket producers — a stream's memory of its numbered producers, so that a batch a
// producer sends again (after a lost ack, a dropped connection) is not learnt twice. The rule is
// the one of the Redis ingest script (redis/stream_log.hpp), for a server without --redis:
//   - a producer the stream does not remember: any seq is accepted (a new producer, or one forgotten);
//   - seq == last + 1: accepted;
//   - seq == last: a duplicate; its first sample's index is still known;
//   - seq < last: a duplicate (appended before the last);
//   - seq > last + 1: out of order, refused — a batch before it is missing (its push failed), and
//     accepting this one would make a later retry of the missing one look like a duplicate.
// So that everything at or below a producer's last seq is known to be in the stream, the producer
// retries its unacknowledged batches in order, from the first one.
// SPDX-License-Identifier: MIT
//
// Memory: a fixed table of `slots` producers per stream, allocated on the stream's first numbered
// push (never on the hot path after that); the least recently used producer is forgotten when a
// new one needs its slot. Not checkpointed: a restarted server remembers no producer.
#pragma once

#include <streamstats/websocket/protocol.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace streamstats::websocket {

class producer_memory {
 public:
  static constexpr std::size_t slots = 16;

  enum class verdict : unsigned char { fresh, duplicate, out_of_order };
  struct result {
    verdict v = verdict::fresh;
    bool has_first = false;  // duplicate of the last batch: `first` is its first sample's index
    std::uint64_t first = 0;
    std::uint64_t expected = 0;  // out_of_order: the seq the stream expects from this producer
  };

  [[nodiscard]] result check(const producer_seq& o) const noexcept {
    result r;
    const slot* s = find(o.producer);
    if (s == nullptr) {
      return r;
    }
    if (o.seq == s->seq) {
      r.v = verdict::duplicate;
      r.has_first = true;
      r.first = s->first;
    } else if (o.seq < s->seq) {
      r.v = verdict::duplicate;
    } else if (o.seq != s->seq + 1) {
      r.v = verdict::out_of_order;
      r.expected = s->seq + 1;
    }
    return r;
  }

  // The batch `o` was learnt; its first sample has index `first` in the stream.
  void record(const producer_seq& o, std::uint64_t first) noexcept {
    slot* s = find(o.producer);
    if (s == nullptr) {
      s = &table_[0];
      for (slot& c : table_) {
        if (c.len == 0) {
          s = &c;
          break;
        }
        if (c.used < s->used) {
          s = &c;
        }
      }
      std::memcpy(s->id.data(), o.producer.data(), o.producer.size());
      s->len = static_cast<unsigned char>(o.producer.size());
    }
    s->seq = o.seq;
    s->first = first;
    s->used = ++clock_;
  }

 private:
  struct slot {
    std::array<char, max_producer_bytes> id{};
    unsigned char len = 0;  // 0: free
    std::uint64_t seq = 0;
    std::uint64_t first = 0;
    std::uint64_t used = 0;
  };
  static_assert(max_producer_bytes <= 255, "slot::len is one byte");

  [[nodiscard]] const slot* find(std::string_view id) const noexcept {
    for (const slot& s : table_) {
      if (s.len == id.size() && s.len != 0 && std::memcmp(s.id.data(), id.data(), s.len) == 0) {
        return &s;
      }
    }
    return nullptr;
  }
  [[nodiscard]] slot* find(std::string_view id) noexcept {
    return const_cast<slot*>(static_cast<const producer_memory*>(this)->find(id));
  }

  std::array<slot, slots> table_{};
  std::uint64_t clock_ = 0;
};

}  // namespace streamstats::websocket
