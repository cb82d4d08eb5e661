// streamstats::websocket — the bytes of a checkpoint file (issue 11): builder and parser. The files
// themselves (atomic writes, generations) are in checkpoint.hpp; docs/state-format.md,
// "Checkpoint files", is the reference for the bytes.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/websocket/pipeline.hpp>
#include <streamstats/websocket/pipeline_state.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace streamstats::websocket {

inline constexpr std::uint16_t checkpoint_version = 1;

// A checkpoint file that cannot be used: what() says what is wrong with it.
class checkpoint_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What a checkpoint keeps of a stream besides its pipeline's state.
struct checkpoint_counters {
  std::uint64_t count = 0;     // samples accepted
  std::uint64_t rejected = 0;  // requests refused for this stream
  double last = std::nan("");  // the last sample
  double t = std::nan("");     // its time (Unix seconds)
};

// One stream of a loaded checkpoint; name and state point into checkpoint_data::bytes.
struct checkpoint_entry {
  std::string_view name;
  checkpoint_counters counters;
  std::string_view state;  // for pipeline::load_state
};

struct checkpoint_data {
  std::uint64_t generation = 0;
  std::int64_t created_unix_ns = 0;
  std::vector<checkpoint_entry> streams;
  std::shared_ptr<const std::string> bytes;  // the file, which the entries view
};

namespace detail {
// magic "SSCK", u16 version, u16 reserved, u64 total length, u64 generation, i64 created (ns since
// the Unix epoch), u64 stream count
inline constexpr char checkpoint_magic[4] = {'S', 'S', 'C', 'K'};
inline constexpr std::size_t checkpoint_header_size = 40;
inline constexpr std::size_t checkpoint_min_size = checkpoint_header_size + 4;
}  // namespace detail

// Builds the bytes of a checkpoint, one stream at a time (so that a server can spread the work over
// several turns of its event loop). checkpoint_store::write() fills in the generation and the CRC.
class checkpoint_builder {
 public:
  checkpoint_builder() { start(); }

  // Appends a stream; the pipeline writes its state straight into the buffer. Throws state_error
  // (buffer unchanged) when the pipeline does not support states.
  void add(std::string_view name, const checkpoint_counters& c, const pipeline& p) {
    if (name.empty() || name.size() > 0xFFFF) {
      throw std::invalid_argument("checkpoint_builder: a stream name of 1 to 65535 bytes");
    }
    const std::size_t at = buf_.size();
    try {
      put_entry_head(name, c);
      const std::size_t len_at = buf_.size();
      detail::put_le(buf_, 0, 4);
      p.save_state(buf_);
      detail::patch_le(buf_, len_at, buf_.size() - len_at - 4, 4);
    } catch (...) {
      buf_.resize(at);
      throw;
    }
    ++streams_;
  }
  // A stream whose pipeline state is already bytes (tests, tools).
  void add(std::string_view name, const checkpoint_counters& c, std::string_view state) {
    put_entry_head(name, c);
    detail::put_le(buf_, state.size(), 4);
    buf_.append(state);
    ++streams_;
  }

  [[nodiscard]] std::size_t streams() const noexcept { return streams_; }
  [[nodiscard]] std::size_t size() const noexcept { return buf_.size() + 4; }
  void reserve(std::size_t bytes) { buf_.reserve(bytes); }

  // The checkpoint's bytes (generation 0, CRC not yet computed); the builder starts over.
  [[nodiscard]] std::string take() {
    detail::patch_le(buf_, 32, streams_, 8);
    detail::put_le(buf_, 0, 4);  // CRC, computed by finish_checkpoint()
    detail::patch_le(buf_, 8, buf_.size(), 8);
    std::string out = std::move(buf_);
    buf_ = std::string();
    start();
    return out;
  }

 private:
  void start() {
    streams_ = 0;
    buf_.append(detail::checkpoint_magic, 4);
    detail::put_le(buf_, checkpoint_version, 2);
    detail::put_le(buf_, 0, 2);
    detail::put_le(buf_, 0, 8);  // total length
    detail::put_le(buf_, 0, 8);  // generation
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    detail::put_le(
        buf_, static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count()),
        8);
    detail::put_le(buf_, 0, 8);  // stream count
  }
  void put_entry_head(std::string_view name, const checkpoint_counters& c) {
    detail::put_le(buf_, name.size(), 2);
    buf_.append(name);
    detail::put_le(buf_, c.count, 8);
    detail::put_le(buf_, c.rejected, 8);
    put_double(c.last);
    put_double(c.t);
  }
  void put_double(double x) {
    std::uint64_t b = 0x7ff8000000000000ULL;
    if (x == x) {
      std::memcpy(&b, &x, 8);
    }
    detail::put_le(buf_, b, 8);
  }

  std::string buf_;
  std::size_t streams_ = 0;
};

// Sets the generation and the CRC-32C of a checkpoint made by checkpoint_builder::take().
inline void finish_checkpoint(std::string& bytes, std::uint64_t generation) {
  if (bytes.size() < detail::checkpoint_min_size) {
    throw std::invalid_argument("finish_checkpoint: not a checkpoint_builder's bytes");
  }
  detail::patch_le(bytes, 16, generation, 8);
  const std::size_t body = bytes.size() - 4;
  detail::patch_le(bytes, body, detail::crc32c_of(bytes.data(), body), 4);
}

// Checks and parses a checkpoint file's bytes. Throws checkpoint_error saying what is wrong
// (truncated, trailing bytes, not a checkpoint, another version, corrupted, inconsistent). The
// pipeline states inside are checked when each is loaded (pipeline::load_state).
[[nodiscard]] inline checkpoint_data parse_checkpoint(std::shared_ptr<const std::string> file) {
  const std::string& b = *file;
  const char* p = b.data();
  const std::size_t n = b.size();
  if (n == 0) {
    throw checkpoint_error("empty file (0 bytes)");
  }
  if (n < 4 || std::memcmp(p, detail::checkpoint_magic, 4) != 0) {
    throw checkpoint_error(n < 4 ? "truncated: " + std::to_string(n) + " bytes, shorter than a header"
                                 : "not a streamstats checkpoint (the first four bytes are not \"SSCK\")");
  }
  if (n < detail::checkpoint_min_size) {
    throw checkpoint_error("truncated: " + std::to_string(n) + " bytes, shorter than a header");
  }
  const auto version = detail::get_le(p + 4, 2);
  if (version != checkpoint_version) {
    throw checkpoint_error("checkpoint format version " + std::to_string(version) +
                           ", this build reads version " + std::to_string(checkpoint_version));
  }
  const std::uint64_t total = detail::get_le(p + 8, 8);
  if (total > n) {
    throw checkpoint_error("truncated: " + std::to_string(n) + " bytes, its header announces " +
                           std::to_string(total));
  }
  if (total < n) {
    throw checkpoint_error("trailing bytes: " + std::to_string(n) + " bytes, its header announces " +
                           std::to_string(total));
  }
  const std::size_t body = n - 4;
  if (static_cast<std::uint32_t>(detail::get_le(p + body, 4)) != detail::crc32c_of(p, body)) {
    throw checkpoint_error("corrupted: the CRC-32C of its bytes differs from the stored one");
  }
  checkpoint_data d;
  d.generation = detail::get_le(p + 16, 8);
  d.created_unix_ns = static_cast<std::int64_t>(detail::get_le(p + 24, 8));
  const std::uint64_t count = detail::get_le(p + 32, 8);
  // Each entry takes at least 39 bytes: a count beyond that is a lie, not a reason to reserve.
  if (count > body / 39) {
    throw checkpoint_error("inconsistent: " + std::to_string(count) + " streams cannot fit in the file");
  }
  d.streams.reserve(static_cast<std::size_t>(count));
  std::unordered_set<std::string_view> names;
  std::size_t pos = detail::checkpoint_header_size;
  auto need = [&](std::size_t k) {
    if (body - pos < k) {
      throw checkpoint_error("inconsistent: stream " + std::to_string(d.streams.size()) +
                             " runs past the end of the file");
    }
  };
  auto get_double = [&] {
    const std::uint64_t bits = detail::get_le(p + pos, 8);
    pos += 8;
    double x = 0.0;
    std::memcpy(&x, &bits, 8);
    return x;
  };
  for (std::uint64_t i = 0; i < count; ++i) {
    checkpoint_entry e;
    need(2);
    const auto len = static_cast<std::size_t>(detail::get_le(p + pos, 2));
    pos += 2;
    need(len + 36);
    e.name = std::string_view(p + pos, len);
    pos += len;
    if (e.name.empty() || !names.insert(e.name).second) {
      throw checkpoint_error("inconsistent: stream " + std::to_string(i) + " has an empty or repeated name");
    }
    e.counters.count = detail::get_le(p + pos, 8);
    e.counters.rejected = detail::get_le(p + pos + 8, 8);
    pos += 16;
    e.counters.last = get_double();
    e.counters.t = get_double();
    const auto state_len = static_cast<std::size_t>(detail::get_le(p + pos, 4));
    pos += 4;
    need(state_len);
    e.state = std::string_view(p + pos, state_len);
    pos += state_len;
    d.streams.push_back(e);
  }
  if (pos != body) {
    throw checkpoint_error("inconsistent: " + std::to_string(body - pos) + " bytes after the last stream");
  }
  d.bytes = std::move(file);
  return d;
}

}  // namespace streamstats::websocket
