// streamstats::websocket registry — the streams of a server: each one a name, a pipeline and its
// counters, created on first push through the pipeline factory, up to max_streams.
// SPDX-License-Identifier: MIT
//
// Step 4 of a message's way through the server (transport → access → dispatch → registry →
// fan-out → HTTP). Nothing here touches a socket: the registry is tested on its own, and it is the
// storage that checkpoints (save/restore each stream's pipeline and counters) and a broker build on:
//
//   registry.for_each([&](std::string_view name, auto& s) { save(name, *s.pipe, s.counters); });
//   registry.restore(name, std::move(pipe), counters);  // a stream with this state, as if pushed
//
// A stream carries a `Topic`, the per-stream data of whoever delivers it (fanout.hpp's subscribers
// and snapshot cache); stream_registry<> has none.
//
// Threading: not thread-safe; one thread owns a registry and every stream in it (the server's io
// thread, or with io_threads > 1 the thread that owns that stream's name). size() alone may be read
// from any thread.
#pragma once

#include <streamstats/websocket/pipeline.hpp>
#include <streamstats/websocket/producers.hpp>
#include <streamstats/websocket/protocol.hpp>

#include <simdjson.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace streamstats::websocket {

// What a stream has seen, as a snapshot reports it ("count", "rejected", "last", "t").
struct stream_counters {
  std::uint64_t count = 0;     // samples accepted
  std::uint64_t rejected = 0;  // requests about this stream its producers got wrong
  double last = std::nan("");  // the last sample accepted
  double t = std::nan("");     // its time (Unix seconds: its "t", or the time of arrival)
};

// A stream without delivery data (the registry on its own, in tests and tools).
struct no_topic {};

namespace detail {

// A counter with one writer (the thread that owns it) and any number of readers: a plain load and
// store, no locked read-modify-write on the hot path.
class relaxed_counter {
 public:
  void add(std::uint64_t n = 1) noexcept { set(get() + n); }
  void set(std::uint64_t v) noexcept { v_.store(v, std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

// The arrival time of samples sent without "t". Linux's coarse real-time clock (resolution of a
// scheduler tick, 1–4 ms) costs ~3 ns against ~24 ns for CLOCK_REALTIME on the test machine,
// which was 4–8 % of the server's time per one-sample JSON message; producers that need precise
// times send "t".
[[nodiscard]] inline double now_seconds() noexcept {
#if defined(CLOCK_REALTIME_COARSE)
  timespec ts{};
  if (clock_gettime(CLOCK_REALTIME_COARSE, &ts) == 0) {
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  }
#endif
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

}  // namespace detail

template <typename Topic = no_topic>
class stream_registry {
 public:
  struct stream {
    std::string name;
    std::unique_ptr<pipeline> pipe;
    stream_counters counters;
    // Bumped whenever the counters change (so whenever a snapshot would differ): the key of
    // fan-out's snapshot cache and of each subscriber's "already sent".
    std::uint64_t version = 1;
    Topic topic{};
    // Its numbered producers (idempotent retries without a broker); created on the first push
    // that carries a producer id and a sequence number.
    std::unique_ptr<producer_memory> producers;
  };

  // The result of find_or_create: the stream, or nullptr with the error to answer.
  struct lookup {
    stream* s = nullptr;
    bool created = false;
    error_code error = error_code::unknown_stream;
  };

  explicit stream_registry(std::size_t max_streams = 1024) noexcept : max_streams_(max_streams) {}

  // Streams beyond this many are refused by find_or_create (too_many_streams); existing ones stay.
  void set_max_streams(std::size_t n) noexcept { max_streams_ = n; }
  [[nodiscard]] std::size_t max_streams() const noexcept { return max_streams_; }

  // Stream names are 1 to max_stream_name_bytes bytes of valid UTF-8.
  [[nodiscard]] static bool valid_name(std::string_view name) noexcept {
    return !name.empty() && name.size() <= max_stream_name_bytes &&
           simdjson::validate_utf8(name.data(), name.size());
  }

  [[nodiscard]] stream* find(std::string_view name) noexcept {
    const auto it = streams_.find(name);
    return it == streams_.end() ? nullptr : it->second.get();
  }
  [[nodiscard]] const stream* find(std::string_view name) const noexcept {
    const auto it = streams_.find(name);
    return it == streams_.end() ? nullptr : it->second.get();
  }

  // The stream of this name, created with make(name) when it does not exist yet. A factory that
  // throws or returns nullptr gives the stream a default_pipeline (a bad factory must not take the
  // io thread down). Fails with invalid_stream_name or too_many_streams.
  lookup find_or_create(std::string_view name, const pipeline_factory& make) {
    if (stream* s = find(name)) {
      return {s, false, {}};
    }
    if (!valid_name(name)) {
      return {nullptr, false, error_code::invalid_stream_name};
    }
    if (streams_.size() >= max_streams_) {
      return {nullptr, false, error_code::too_many_streams};
    }
    std::unique_ptr<pipeline> pipe;
    try {
      pipe = make ? make(name) : nullptr;
    } catch (...) {
      pipe = nullptr;
    }
    return {insert(std::string(name), std::move(pipe), {}), true, {}};
  }

  // A stream with this pipeline and these counters, as a checkpoint or a broker restores it: the
  // stream of this name gets them (keeping its topic, so its subscribers stay), or is created
  // (max_streams is not applied: restoring what existed must not fail half-way). nullptr when the
  // name is invalid or `pipe` is null.
  stream* restore(std::string_view name, std::unique_ptr<pipeline> pipe, const stream_counters& counters) {
    if (!valid_name(name) || !pipe) {
      return nullptr;
    }
    if (stream* s = find(name)) {
      s->pipe = std::move(pipe);
      s->counters = counters;
      ++s->version;
      return s;
    }
    return insert(std::string(name), std::move(pipe), counters);
  }

  // Learns n ≥ 1 samples (already admitted by check_samples) at time `when` (Unix seconds, which the
  // pipeline gets too: the detector learns the stream's pace from it), updating the counters.
  // on_alert(index, value, alert_info) runs for each sample that starts an alert episode; `index` is
  // the sample's position in the stream (its count before it).
  template <typename OnAlert>
  void push(stream& s, const double* values, std::size_t n, double when, OnAlert&& on_alert) {
    if (n == 1) {
      alert_info a;
      if (s.pipe->push_at(values[0], when, a)) {
        on_alert(s.counters.count, values[0], a);
      }
    } else {
      struct sink final : alert_sink {
        OnAlert& f;
        std::uint64_t base;
        sink(OnAlert& fn, std::uint64_t b) : f(fn), base(b) {}
        void on_alert(std::size_t offset, double x, const alert_info& a) override { f(base + offset, x, a); }
      } alerts(on_alert, s.counters.count);
      s.pipe->push_batch_at(values, n, when, alerts);
    }
    s.counters.count += n;
    s.counters.last = values[n - 1];
    s.counters.t = when;
    ++s.version;
  }

  // One more request about `s` that its producer got wrong.
  static void count_rejected(stream& s) noexcept {
    ++s.counters.rejected;
    ++s.version;
  }

  // f(std::string_view name, stream&) for every stream, in name order. When f returns bool, false
  // stops the iteration. f must not create streams.
  template <typename F>
  void for_each(F&& f) {
    for (auto& [name, s] : streams_) {
      if constexpr (std::is_same_v<std::invoke_result_t<F&, std::string_view, stream&>, bool>) {
        if (!f(std::string_view(name), *s)) {
          return;
        }
      } else {
        f(std::string_view(name), *s);
      }
    }
  }
  template <typename F>
  void for_each(F&& f) const {
    for (const auto& [name, s] : streams_) {
      if constexpr (std::is_same_v<std::invoke_result_t<F&, std::string_view, const stream&>, bool>) {
        if (!f(std::string_view(name), static_cast<const stream&>(*s))) {
          return;
        }
      } else {
        f(std::string_view(name), static_cast<const stream&>(*s));
      }
    }
  }

  // How many streams exist (readable from any thread).
  [[nodiscard]] std::size_t size() const noexcept { return size_.load(std::memory_order_relaxed); }
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }

 private:
  stream* insert(std::string name, std::unique_ptr<pipeline> pipe, const stream_counters& counters) {
    auto s = std::make_unique<stream>();
    s->name = std::move(name);
    s->pipe = pipe ? std::move(pipe) : std::make_unique<default_pipeline>();
    s->counters = counters;
    stream* raw = s.get();
    streams_.emplace(raw->name, std::move(s));
    size_.store(streams_.size(), std::memory_order_relaxed);
    return raw;
  }

  // std::map: "list" replies and metrics walk the streams in name order; stream addresses are
  // stable (subscribers and connections keep pointers to them).
  std::map<std::string, std::unique_ptr<stream>, std::less<>> streams_;
  std::atomic<std::size_t> size_{0};
  std::size_t max_streams_;
};

}  // namespace streamstats::websocket
