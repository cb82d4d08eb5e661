// streamstats — what the detectors share: alert episodes and the recent samples they re-learn from
// (not public API).
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/detail/common.hpp>

#include <array>
#include <cstddef>
#include <cstdint>

namespace streamstats::detail {

// Alert episodes: anomalies separated by fewer than `cooldown` normal samples belong to one episode,
// so one long excursion is one alert (one new_episode), not dozens. Also counts the run of
// consecutive same-side anomalies that triggers a re-learn after a level shift.
struct episode_tracker {
  std::size_t anomalies = 0;
  std::uint64_t episode = 0;  // episodes opened so far
  bool open = false;
  std::size_t quiet = 0;  // normal samples since the last anomaly
  std::size_t run = 0;    // consecutive anomalies on run_side within the episode
  int run_side = 0;       // +1 / −1, or 0 where sides do not apply

  // An anomaly on `side`; true when it opens a new episode.
  bool flag(int side) noexcept {
    ++anomalies;
    quiet = 0;
    bool opened = false;
    if (!open) {
      open = true;
      opened = true;
      ++episode;
      run = 0;
    }
    run = side == run_side ? run + 1 : 1;
    run_side = side;
    return opened;
  }

  // A normal sample: closes the episode after `cooldown` of them in a row.
  void calm(std::size_t cooldown) noexcept {
    if (open && ++quiet >= cooldown) {
      open = false;
      run = 0;
      run_side = 0;
    }
  }

  // The episode a sample belongs to: its number while one is open, else 0.
  [[nodiscard]] std::uint64_t current() const noexcept { return open ? episode : 0; }
};

// The last `cap` (≤ Cap) samples, oldest first on replay, in a fixed ring: what a detector re-learns
// its baseline from once a run of same-side anomalies shows that the level has moved.
template <class V, std::size_t Cap>
class recent_samples {
  friend struct state_access;

 public:
  recent_samples() = default;
  // For value types that a `{}` member would leave uninitialised (fixed-size Eigen vectors).
  explicit recent_samples(const V& fill) noexcept { items_.fill(fill); }

  void remember(const V& x, std::size_t cap) noexcept {
    if (cap == 0) {
      return;
    }
    items_[head_] = x;
    head_ = head_ + 1 == cap ? 0 : head_ + 1;  // no 64-bit division per push
    if (size_ < cap) {
      ++size_;
    }
  }

  template <class F>
  void replay(std::size_t cap, F&& f) const {
    const std::size_t start = size_ < cap ? 0 : head_;
    for (std::size_t i = 0; i < size_; ++i) {
      const std::size_t k = start + i;
      f(items_[k < cap ? k : k - cap]);
    }
  }

  void clear() noexcept { size_ = head_ = 0; }

 private:
  std::size_t size_ = 0;
  std::size_t head_ = 0;
  std::array<V, Cap> items_{};  // last: see zscore_detector's members
};

}  // namespace streamstats::detail
