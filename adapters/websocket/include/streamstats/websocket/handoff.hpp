// streamstats::websocket handoff — work passed from one io thread to another, in order, in batches.
// SPDX-License-Identifier: MIT
//
// With io_threads > 1 (core.hpp) each stream is owned by one thread and each connection lives on
// one thread. What a connection asks of a stream owned elsewhere (its pushes, subscriptions,
// queries) goes to the owner through the handoff of that (sender, owner) pair; what a stream sends
// to a connection living elsewhere (snapshots, alerts, replies) comes back the same way. A handoff
// is a FIFO: what one thread hands to another arrives in the order it was handed, so one
// producer's samples reach a stream in order. The first item of a batch posts one drain to the
// receiving thread; items added before the drain runs ride along. core.hpp fills a batch per
// destination on the sending thread without a lock and hands it over once per turn of its io loop
// (send_batch), so a busy producer costs one lock and at most one post per turn, not per message.
#pragma once

#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace streamstats::websocket::detail {

// Where an item's string or samples sit in its batch's arenas.
struct handoff_span {
  std::uint32_t offset = 0;
  std::uint32_t size = 0;
};

// A batch of items, with their strings and samples in two arenas (no allocation per item once the
// arenas have grown).
template <typename Item>
struct handoff_batch {
  std::vector<Item> items;
  std::string text;
  std::vector<double> values;

  using span = handoff_span;
  span add_text(std::string_view s) {
    const span r{static_cast<std::uint32_t>(text.size()), static_cast<std::uint32_t>(s.size())};
    text.append(s);
    return r;
  }
  span add_values(const double* v, std::size_t n) {
    const span r{static_cast<std::uint32_t>(values.size()), static_cast<std::uint32_t>(n)};
    values.insert(values.end(), v, v + n);
    return r;
  }
  [[nodiscard]] std::string_view text_of(span s) const noexcept { return {text.data() + s.offset, s.size}; }
  [[nodiscard]] const double* values_of(span s) const noexcept { return values.data() + s.offset; }
  void clear() noexcept {
    items.clear();
    text.clear();
    values.clear();
  }
};

template <typename Item>
class handoff {
 public:
  using batch = handoff_batch<Item>;

  // On the sending thread: appends all of `b` (which is left empty, its capacity kept when it can
  // be); `drain` is posted to `to` when this starts a batch.
  template <typename Drain>
  void send_batch(asio::io_context& to, batch& b, Drain&& drain) {
    bool first = false;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (pending_.items.empty()) {
        std::swap(pending_, b);  // the common case: no copy
      } else {
        const auto text_base = static_cast<std::uint32_t>(pending_.text.size());
        const auto values_base = static_cast<std::uint32_t>(pending_.values.size());
        for (Item& it : b.items) {
          it.rebase(text_base, values_base);
          pending_.items.push_back(std::move(it));
        }
        pending_.text += b.text;
        pending_.values.insert(pending_.values.end(), b.values.begin(), b.values.end());
      }
      first = !scheduled_;
      scheduled_ = true;
    }
    b.clear();
    if (first) {
      asio::post(to, std::forward<Drain>(drain));
    }
  }

  // On the receiving thread: the batch so far (into `out`, which must be empty; its capacity is
  // reused for the next batch).
  void take(batch& out) {
    const std::lock_guard<std::mutex> lock(mutex_);
    std::swap(out, pending_);
    scheduled_ = false;
  }

 private:
  std::mutex mutex_;
  batch pending_;
  bool scheduled_ = false;
};

}  // namespace streamstats::websocket::detail
