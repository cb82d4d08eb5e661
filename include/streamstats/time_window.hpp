// streamstats — statistics over the last W of time: a ring of mergeable accumulators, one per bucket.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/detail/common.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

namespace streamstats {

// Any mergeable accumulator Acc (mean, variance, moments, extrema, ddsketch, ...) over the samples of
// the last `span` of time, for samples that carry their own timestamps:
//
//   time_window<variance<double>, 60> w(std::chrono::minutes(5));    // 60 buckets of 5 s
//   w.push(x, t);                                                    // t: Clock::time_point
//   auto v = w.snapshot(now);  v.mean(); v.sample_variance();       // the last 5 minutes
//
// Buckets: time is cut into buckets of width b = span / Buckets, aligned on the clock's epoch; bucket
// k holds the samples with t ∈ (k·b, (k+1)·b] (closed on the right, as pandas' default). Each bucket
// has its own Acc; a sample goes into its bucket's accumulator, and snapshot(now) merges (Acc::merge)
// the Buckets buckets that end with now's bucket, oldest first: O(Buckets) merges per query, O(1) per
// push (a bucket is reset the first time a sample of a new period lands in its slot).
//
// Window edge: at a bucket-aligned now (now = k·b) the snapshot is exactly the samples with
// t ∈ (now − span, now], pandas Series.rolling(span) with its default closed='right'. At any other
// now it is the samples with t ∈ (k·b − span, k·b] for the next boundary k·b > now: the old edge is
// late by less than one bucket (the precision of the window is one bucket), and samples already
// pushed with t in (now, k·b] are included. Samples of later buckets are not. A query for a now
// older than the newest sample's bucket sees only the buckets whose slots have not been reused by
// newer periods: query at (or after) the time of the newest sample, as a live dashboard does.
//
// Time order: a sample may arrive late, in any order, as long as its bucket is still among the last
// Buckets buckets of the newest sample seen: it goes into its own bucket. An older sample cannot
// be placed (its bucket's slot has been reused or would be reused): push returns false, changes
// nothing, and rejected() counts it.
//
// span must be a positive multiple of Buckets ticks of Clock::duration (so that every bucket is
// the same width), otherwise the constructor throws std::invalid_argument naming span. Non-finite
// samples follow Acc's policy. Acc is given as a prototype (e.g. a ddsketch with its α): every
// bucket and every snapshot starts as a reset() copy of it. Memory: Buckets·(sizeof(Acc) + 8) bytes.
// Below the minimum count: snapshot() is an empty Acc (its documented empty values) when the window
// holds no sample.
template <class Acc, std::size_t Buckets, class Clock = std::chrono::steady_clock>
class time_window {
  friend struct detail::state_access;
  static_assert(Buckets >= 1, "streamstats: time_window<Acc, Buckets> needs at least one bucket");

 public:
  using accumulator = Acc;
  using value_type = typename Acc::value_type;
  using clock = Clock;
  using duration = typename Clock::duration;
  using time_point = typename Clock::time_point;

  // A window of `span` (a positive multiple of Buckets ticks); `prototype` configures the buckets.
  explicit time_window(duration span, const Acc& prototype = Acc{})
      : span_(checked_span(span)), width_(span.count() / static_cast<rep>(Buckets)), prototype_(prototype) {
    prototype_.reset();
    for (auto& b : buckets_) {
      b = prototype_;
    }
  }

  // Adds x, timestamped t, to its bucket. false (and nothing changes but rejected()) when t's bucket
  // is older than the last Buckets buckets of the newest sample.
  bool push(const value_type& x, time_point t) noexcept {
    const std::int64_t k = bucket_of(t);
    if (n_ > 0 && k <= newest_ - static_cast<std::int64_t>(Buckets)) {
      ++rejected_;
      return false;
    }
    if (n_ == 0 || k > newest_) {
      newest_ = k;
    }
    const std::size_t s = slot(k);
    if (ids_[s] != k) {
      buckets_[s].reset();
      ids_[s] = k;
    }
    buckets_[s].push(x);
    ++n_;
    return true;
  }
  bool operator()(const value_type& x, time_point t) noexcept { return push(x, t); }

  // The merged accumulator of the window ending with now's bucket (see the class comment).
  [[nodiscard]] Acc snapshot(time_point now) const noexcept {
    Acc out = prototype_;
    if (n_ == 0) {
      return out;
    }
    const std::int64_t last = bucket_of(now);
    for (std::int64_t k = last - static_cast<std::int64_t>(Buckets) + 1; k <= last; ++k) {
      const std::size_t s = slot(k);
      if (ids_[s] == k) {
        out.merge(buckets_[s]);
      }
    }
    return out;
  }
  // snapshot() at the end of the newest sample's bucket.
  [[nodiscard]] Acc snapshot() const noexcept { return snapshot(bucket_end(newest_)); }
  // The primary result of snapshot() (Acc::value()).
  [[nodiscard]] auto value() const noexcept { return snapshot().value(); }

  // Samples accepted since construction or reset() (including those that have left the window).
  [[nodiscard]] std::size_t count() const noexcept { return n_; }
  // Samples refused as too late for their bucket.
  [[nodiscard]] std::size_t rejected() const noexcept { return rejected_; }
  [[nodiscard]] duration span() const noexcept { return span_; }
  [[nodiscard]] duration bucket_width() const noexcept { return duration(width_); }
  [[nodiscard]] static constexpr std::size_t buckets() noexcept { return Buckets; }

  // Back to empty (rejected() too); span and prototype kept.
  void reset() noexcept {
    for (std::size_t i = 0; i < Buckets; ++i) {
      buckets_[i].reset();
      ids_[i] = no_bucket;
    }
    n_ = 0;
    rejected_ = 0;
    newest_ = 0;
  }

 private:
  using rep = typename duration::rep;
  static constexpr std::int64_t no_bucket = std::numeric_limits<std::int64_t>::min();

  static duration checked_span(duration span) {
    if (!(span.count() > 0) || span.count() % static_cast<rep>(Buckets) != 0) {
      throw std::invalid_argument("streamstats::time_window: span must be a positive multiple of Buckets (" +
                                  std::to_string(Buckets) + ") ticks of Clock::duration, got " +
                                  std::to_string(static_cast<long long>(span.count())) + " ticks");
    }
    return span;
  }

  // k with t ∈ (k·b, (k+1)·b]: ⌊(t − 1 tick) / b⌋, floored for times before the epoch too.
  [[nodiscard]] std::int64_t bucket_of(time_point t) const noexcept {
    const auto c = static_cast<std::int64_t>(t.time_since_epoch().count()) - 1;
    const auto w = static_cast<std::int64_t>(width_);
    std::int64_t k = c / w;
    if (c % w < 0) {
      --k;
    }
    return k;
  }
  [[nodiscard]] time_point bucket_end(std::int64_t k) const noexcept {
    return time_point(duration(static_cast<rep>((k + 1) * static_cast<std::int64_t>(width_))));
  }
  [[nodiscard]] static std::size_t slot(std::int64_t k) noexcept {
    const auto m = static_cast<std::int64_t>(Buckets);
    const std::int64_t r = k % m;
    return static_cast<std::size_t>(r < 0 ? r + m : r);
  }

  duration span_;
  rep width_;
  Acc prototype_;
  std::size_t n_ = 0;
  std::size_t rejected_ = 0;
  std::int64_t newest_ = 0;
  std::array<std::int64_t, Buckets> ids_ = filled_ids();
  std::array<Acc, Buckets> buckets_{};

  static constexpr std::array<std::int64_t, Buckets> filled_ids() noexcept {
    std::array<std::int64_t, Buckets> ids{};
    for (auto& id : ids) {
      id = no_bucket;
    }
    return ids;
  }
};

}  // namespace streamstats
