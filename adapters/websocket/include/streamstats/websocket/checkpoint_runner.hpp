// streamstats::websocket — checkpoints of a running server (issue 11): when to take them, how to
// take them without pausing ingest, and how to restore them at start.
// SPDX-License-Identifier: MIT
//
// A checkpoint is taken in two halves. The streams are serialised on the thread that owns them (the
// server's io thread) in slices of at most `slice_budget` each, posted one after the other so that
// network events run between them: no pause of ingest longer than a slice. The finished buffer then
// goes to a checkpoint_writer thread for the file write, fsync, rename and directory fsync. At a
// graceful stop, finish() writes one last checkpoint synchronously, after ingest has ended.
//
// start() and finish() take a count n and an add(i, builder) that appends stream i; the overloads
// taking a stream_registry (registry.hpp) pass the streams it has when the checkpoint begins (a
// registry never removes a stream, so they outlive the slices), and restore() fills one from the
// newest valid checkpoint. Metrics are atomics, readable from any thread.
//
// With several io threads (server_options::io_threads) each owns some of the streams: start()
// then takes one part per thread, and the checkpoint visits the parts one after the other, each
// serialised in slices on the io_context of the thread that owns its streams (the builder goes
// from thread to thread by asio::post, so one thread touches it at a time); the file is still one
// checkpoint, handed to the writer from the runner's own io thread.
#pragma once

#include <streamstats/websocket/checkpoint.hpp>
#include <streamstats/websocket/registry.hpp>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace streamstats::websocket {

struct checkpoint_metrics {
  std::atomic<std::uint64_t> written{0};            // checkpoints written (files renamed into place)
  std::atomic<std::uint64_t> failed{0};             // checkpoints that could not be written
  std::atomic<std::uint64_t> last_duration_ns{0};   // the last written one, first slice to directory fsync
  std::atomic<std::uint64_t> last_serialize_ns{0};  // … of which serialising on the owning thread
  std::atomic<std::uint64_t> last_max_slice_ns{0};  // … its longest slice (the longest pause of ingest)
  std::atomic<std::uint64_t> last_bytes{0};
  std::atomic<std::uint64_t> last_streams{0};
  std::atomic<std::uint64_t> skipped_streams{0};  // in the last one: pipelines without state support
};

class checkpoint_runner {
 public:
  // level is "error", "warn" or "info"; empty = lines on stderr. Called on the io thread and on the
  // writer thread.
  using log_fn = std::function<void(std::string_view level, const std::string& message)>;
  // Appends stream i to the builder (checkpoint_builder::add; a state_error from a pipeline that
  // does not support states makes the runner skip that stream and say so).
  using add_fn = std::function<void(std::size_t i, checkpoint_builder& b)>;
  // One thread's share of a checkpoint: `source`, called on `io` (the thread that owns those
  // streams) when the checkpoint reaches this part, returns how many streams and how to add each.
  struct part {
    asio::io_context* io = nullptr;
    std::function<std::pair<std::size_t, add_fn>()> source;
  };

  checkpoint_runner(asio::io_context& io, const std::string& directory, log_fn log,
                    std::chrono::microseconds slice_budget = std::chrono::microseconds(2000))
      : io_(io),
        store_(directory),
        log_(std::move(log)),
        budget_(slice_budget),
        timer_(io),
        writer_(store_) {}

  [[nodiscard]] checkpoint_store& store() noexcept { return store_; }
  [[nodiscard]] const checkpoint_metrics& metrics() const noexcept { return metrics_; }
  [[nodiscard]] bool running() const noexcept { return job_ != nullptr; }

  // Reads the newest valid generation for a restore; damaged newer ones are logged (file and
  // problem), renamed to <file>.damaged, and the previous generation is used. Creates the directory
  // when missing (throws std::system_error when it cannot).
  checkpoint_load_result load() {
    store_.create_directory();
    auto r = store_.load(/*set_aside_damaged=*/true);
    for (const auto& p : r.problems) {
      log("error", "checkpoint " + p + "; set aside as .damaged");
    }
    if (r.found && !r.problems.empty()) {
      log("warn", "using the previous generation " + r.path);
    }
    return r;
  }

  // Restores the newest valid checkpoint into `registry` (a stream_registry<Topic>): each saved
  // stream gets the pipeline `make` gives its name, loaded from its saved state, and its counters;
  // on_created(stream&) runs for each one restored. A stream whose state that pipeline refuses (the
  // configuration changed since: the message quotes both) is reported and left out. Returns the
  // number of streams restored.
  template <class Registry, class OnCreated>
  std::size_t restore(Registry& registry, const pipeline_factory& make, OnCreated&& on_created) {
    const checkpoint_load_result r = load();
    if (!r.found) {
      log("info", "no checkpoint in " + store_.directory() + ": starting without streams");
      return 0;
    }
    std::size_t restored = 0;
    std::size_t refused = 0;
    for (const checkpoint_entry& e : r.data.streams) {
      const std::string name(e.name);
      std::unique_ptr<pipeline> pipe;
      try {
        pipe = make ? make(name) : nullptr;
      } catch (...) {
        pipe = nullptr;
      }
      if (!pipe) {
        pipe = std::make_unique<default_pipeline>();
      }
      try {
        pipe->load_state(e.state);
      } catch (const state_error& ex) {
        log("error", "stream \"" + name + "\" not restored from " + r.path + ": " + ex.what());
        ++refused;
        continue;
      }
      const auto& k = e.counters;
      if (auto* s =
              registry.restore(name, std::move(pipe), stream_counters{k.count, k.rejected, k.last, k.t})) {
        on_created(*s);
        ++restored;
      } else {
        log("error", "stream \"" + name + "\" not restored from " + r.path + ": not a valid stream name");
        ++refused;
      }
    }
    log("info", "restored " + std::to_string(restored) + " stream(s) from " + r.path + " (generation " +
                    std::to_string(r.data.generation) + ")" +
                    (refused > 0 ? "; " + std::to_string(refused) + " refused" : std::string()));
    return restored;
  }

  // Calls `due` on the io thread every `interval` (0: never) until cancel(); `due` usually calls start().
  void every(std::chrono::milliseconds interval, std::function<void()> due) {
    interval_ = interval;
    due_ = std::move(due);
    arm();
  }
  void set_interval(std::chrono::milliseconds interval) {
    if (interval != interval_) {
      interval_ = interval;
      arm();
    }
  }
  void cancel() {
    stopped_ = true;
    timer_.cancel();
  }

  // Starts a checkpoint of n streams in slices on the io thread (call it there). False when one is
  // still being serialised or written (this one is skipped; the next tick tries again).
  bool start(std::size_t n, add_fn add) {
    return start({part{&io_, [n, add = std::move(add)] { return std::make_pair(n, add); }}});
  }

  // A checkpoint of several parts (call it on the io thread), in this order, each serialised on
  // its own io_context. False as start(n, add).
  bool start(std::vector<part> parts) {
    if (job_ || writer_.busy() || stopped_ || parts.empty()) {
      return false;
    }
    job_ = std::make_shared<job>();
    job_->parts = std::move(parts);
    job_->t0 = clock::now();
    asio::post(*job_->parts.front().io, [this, j = job_] { slice(j); });
    return true;
  }

  // start() over the streams `registry` has now.
  template <class Registry>
  bool start(const Registry& registry) {
    auto [n, add] = source(registry);
    return start(n, std::move(add));
  }
  // The part of a checkpoint that is `registry`, owned by the thread running `io`: its streams are
  // listed there when the checkpoint reaches it.
  template <class Registry>
  static part part_of(asio::io_context& io, const Registry& registry) {
    return {&io, [&registry] { return source(registry); }};
  }
  // finish() over every stream of `registry`, with a line in the log when written.
  template <class Registry>
  checkpoint_write_result finish(const Registry& registry) {
    return finish(std::vector<const Registry*>{&registry});
  }
  // finish() over every stream of several registries (the io threads have ended: the calling
  // thread may read them all), in this order, into one checkpoint.
  template <class Registry>
  checkpoint_write_result finish(const std::vector<const Registry*>& registries) {
    std::vector<std::pair<std::size_t, add_fn>> parts;
    std::size_t n = 0;
    for (const Registry* r : registries) {
      parts.push_back(source(*r));
      n += parts.back().first;
    }
    auto r = finish(n, [parts = std::move(parts)](std::size_t i, checkpoint_builder& b) {
      for (const auto& [count, add] : parts) {
        if (i < count) {
          add(i, b);
          return;
        }
        i -= count;
      }
    });
    if (r.ok) {
      log("info", "checkpoint at stop: " + std::to_string(n) + " stream(s) in " + r.path);
    }
    return r;
  }

  // The checkpoint at a graceful stop, on the calling thread once ingest has ended: a periodic one
  // in progress is abandoned (its serialisation) or waited for (its write), then all n streams are
  // serialised and written synchronously.
  checkpoint_write_result finish(std::size_t n, const add_fn& add) {
    cancel();
    if (job_) {
      job_->abandoned.store(true, std::memory_order_relaxed);
      job_.reset();
    }
    writer_.wait_idle();
    job j;
    j.n = n;
    j.total = n;
    j.t0 = clock::now();
    j.add = add;
    while (j.next < j.n) {
      run_slice(j, std::chrono::hours(1));
    }
    auto r = store_.write(j.builder.take());
    account(j, r);
    return r;
  }

 private:
  using clock = std::chrono::steady_clock;
  struct job {
    std::vector<part> parts;
    std::size_t current = 0;             // the part being serialised
    bool sourced = false;                // its n and add are known
    std::size_t total = 0;               // streams of every part so far
    std::atomic<bool> abandoned{false};  // by finish(): the slices still posted do nothing
    std::size_t n = 0;                   // of the current part
    std::size_t next = 0;
    std::size_t part_bytes0 = 0;  // the builder's size when the current part began
    bool part_reserved = false;   // the buffer was reserved for the rest of the part
    add_fn add;
    checkpoint_builder builder;
    clock::time_point t0;
    clock::duration serialize{0};
    clock::duration max_slice{0};
    std::size_t skipped = 0;
  };

  // The streams of `registry` now, and how to write stream i.
  template <class Registry>
  static std::pair<std::size_t, add_fn> source(const Registry& registry) {
    using stream = typename Registry::stream;
    auto list = std::make_shared<std::vector<const stream*>>();
    list->reserve(registry.size());
    registry.for_each([&](std::string_view /*name*/, const stream& s) { list->push_back(&s); });
    const std::size_t n = list->size();
    return {n, [list](std::size_t i, checkpoint_builder& b) {
              const stream& s = *(*list)[i];
              const auto& k = s.counters;
              b.add(s.name, checkpoint_counters{k.count, k.rejected, k.last, k.t}, *s.pipe);
            }};
  }

  void arm() {
    timer_.cancel();
    if (interval_.count() <= 0 || stopped_ || !due_) {
      return;
    }
    timer_.expires_after(interval_);
    timer_.async_wait([this](const std::error_code& ec) {
      if (ec || stopped_) {
        return;
      }
      due_();
      arm();
    });
  }

  // Serialises streams until the budget is spent (the clock is read every 16 streams).
  static void run_slice(job& j, clock::duration budget) {
    const auto t0 = clock::now();
    auto t = t0;
    while (j.next < j.n && t - t0 < budget) {
      const std::size_t begin = j.next;
      const std::size_t end = std::min(j.n, j.next + 16);
      for (; j.next < end; ++j.next) {
        try {
          j.add(j.next, j.builder);
        } catch (const state_error&) {
          ++j.skipped;
        }
      }
      if (!j.part_reserved && j.next > begin) {
        // Room for the rest of the part at the average size so far (+1/8), reserved now while the
        // buffer is small: growing it later would copy the whole buffer inside one slice (at 10⁴
        // streams a copy of ~12 MB plus fresh pages: a pause of several ms).
        const std::size_t done = j.builder.size() - j.part_bytes0;
        const std::size_t per = done / (j.next - begin);
        j.builder.reserve(j.builder.size() + (per + per / 8) * (j.n - j.next) + 4096);
        j.part_reserved = true;
      }
      t = clock::now();
    }
    j.serialize += t - t0;
    j.max_slice = std::max(j.max_slice, t - t0);
  }

  // On the io_context of part j->current.
  void slice(const std::shared_ptr<job>& j) {
    if (j->abandoned.load(std::memory_order_relaxed)) {
      return;  // by finish()
    }
    const part& p = j->parts[j->current];
    if (!j->sourced) {
      auto [n, add] = p.source();
      j->n = n;
      j->next = 0;
      j->add = std::move(add);
      j->total += n;
      j->sourced = true;
      j->part_bytes0 = j->builder.size();
      j->part_reserved = false;
    }
    run_slice(*j, budget_);
    if (j->next < j->n) {
      asio::post(*p.io, [this, j] { slice(j); });
      return;
    }
    if (j->current + 1 < j->parts.size()) {
      ++j->current;
      j->sourced = false;
      asio::post(*j->parts[j->current].io, [this, j] { slice(j); });
      return;
    }
    if (p.io != &io_) {
      asio::post(io_, [this, j] { complete(j); });
      return;
    }
    complete(j);
  }

  // On the runner's io thread, once every part is serialised.
  void complete(const std::shared_ptr<job>& j) {
    if (j != job_) {
      return;  // abandoned by finish()
    }
    std::string bytes = j->builder.take();
    const bool taken =
        writer_.submit(std::move(bytes), [this, j](const checkpoint_write_result& r) { account(*j, r); });
    if (!taken) {
      // Only finish() writes besides the writer, and it clears job_ first: not reachable, but a
      // checkpoint that was not written is counted as failed rather than lost silently.
      metrics_.failed.fetch_add(1, std::memory_order_relaxed);
    }
    job_.reset();
  }

  void account(const job& j, const checkpoint_write_result& r) {
    metrics_.skipped_streams.store(j.skipped, std::memory_order_relaxed);
    if (j.skipped > 0) {
      log("warn", std::to_string(j.skipped) +
                      " stream(s) not checkpointed: their pipeline does not support saved states");
    }
    if (!r.ok) {
      metrics_.failed.fetch_add(1, std::memory_order_relaxed);
      log("error", "checkpoint not written: " + r.error);
      return;
    }
    const auto ns = [](clock::duration d) {
      return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
    };
    metrics_.last_duration_ns.store(ns(clock::now() - j.t0), std::memory_order_relaxed);
    metrics_.last_serialize_ns.store(ns(j.serialize), std::memory_order_relaxed);
    metrics_.last_max_slice_ns.store(ns(j.max_slice), std::memory_order_relaxed);
    metrics_.last_bytes.store(r.bytes, std::memory_order_relaxed);
    metrics_.last_streams.store(j.total - j.skipped, std::memory_order_relaxed);
    metrics_.written.fetch_add(1, std::memory_order_relaxed);
  }

  void log(std::string_view level, const std::string& m) const {
    if (log_) {
      log_(level, m);
      return;
    }
    std::fprintf(stderr, "streamstats: %.*s: %s\n", static_cast<int>(level.size()), level.data(), m.c_str());
  }

  asio::io_context& io_;
  checkpoint_store store_;
  log_fn log_;
  std::chrono::microseconds budget_;
  checkpoint_metrics metrics_;
  asio::steady_timer timer_;
  std::chrono::milliseconds interval_{0};
  std::function<void()> due_;
  bool stopped_ = false;
  std::shared_ptr<job> job_;
  // Last: destroyed first, finishing a write in flight whose callback uses the members above.
  checkpoint_writer writer_;
};

}  // namespace streamstats::websocket
