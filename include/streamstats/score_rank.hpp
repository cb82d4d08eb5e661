// streamstats — the rank of a raw anomaly score among the series' own recent scores.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/detail/common.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>

namespace streamstats {

// Calibrates a raw anomaly score (|z|, a distance: any non-negative number) against the series' own
// recent history: push(raw) returns ln p, p = the exponentially weighted fraction of the recent raw
// scores at or above this one (interpolated within a histogram bin: evenly, and in the tail as an
// exponentially thinning density), so one threshold on p means "rarer than that, on this series" on
// every series. A series whose |z| is routinely 10 (heavy-tailed counts, a square wave's edges, a
// daily jump) learns that 10 is normal; on a quiet series the same 10 is as rare as the history is
// long.
//
// The scores live in a fixed histogram of `bins` bins on log1p(raw) (width bin_width, the last bin
// open-ended, +Inf in it), with exponential forgetting of span `span` samples done in O(1) by growing
// the weight of each new sample instead of shrinking the old ones (renormalised before overflow).
// A query adds at most `bins` weights: O(1), no allocation, copyable.
// p is never 0: an empty tail gives p = w_new / (Σw + w_new) ≈ 2 / (span + 1) once warm (1/n before),
// the rarity of "never seen in the recent past".
template <class T, std::size_t Bins = 64>
class score_rank {
  STREAMSTATS_REQUIRE_SCALAR(T);
  friend struct detail::state_access;
  static_assert(Bins >= 2, "streamstats::score_rank: at least 2 bins");

 public:
  using value_type = T;

  // span: memory in samples (the exponential weights' span, α = 2 / (span + 1)); bin_width: width of a
  // bin in log1p(raw) (0.25: a bin per 28% of raw score). Throws std::invalid_argument when span is
  // not a finite number ≥ 1 or bin_width not a finite number > 0.
  explicit score_rank(T span = T(1000), T bin_width = T(0.25))
      : decay_(T(1) - T(2) / (checked_span(span) + T(1))),
        inverse_decay_(T(1) / decay_),
        inverse_width_(T(1) / checked_width(bin_width)) {}

  // Both ranks of one raw score, from one pass over the histogram (no logarithm taken).
  struct rank {
    T p;       // the interpolated tail fraction (what log_p(raw) is the logarithm of)
    T p_bin;   // with the whole bin counted (what log_p_bin(raw) is the logarithm of)
    T graded;  // p, except beyond every recent score: smaller the farther beyond (see rank_at)
  };

  // ln p of `raw` against the scores learned so far, then learns it. NaN raw: nothing learned, 0.
  T push(T raw) noexcept {
    if (raw != raw) {
      return T(0);
    }
    const T pos = position(raw);
    const std::size_t b = bin_at(pos);
    const T log_p = log_p_at(pos, b);
    learn(b);
    return log_p;
  }

  // rank_of(raw), then learns raw: the detector's path (one log1p, at most Bins additions).
  rank rank_and_learn(T raw) noexcept {
    if (raw != raw) {
      return {T(1), T(1), T(1)};
    }
    const T pos = position(raw);
    const std::size_t b = bin_at(pos);
    const rank r = rank_at(pos, b);
    learn(b);
    return r;
  }

  // Both p of `raw` without learning it ({1, 1} before the first sample or for NaN).
  [[nodiscard]] rank rank_of(T raw) const noexcept {
    if (raw != raw) {
      return {T(1), T(1), T(1)};
    }
    const T pos = position(raw);
    return rank_at(pos, bin_at(pos));
  }

  // ln p of `raw` without learning it (0 before the first sample).
  [[nodiscard]] T log_p(T raw) const noexcept {
    if (raw != raw) {
      return T(0);
    }
    const T pos = position(raw);
    return log_p_at(pos, bin_at(pos));
  }

  // ln p counting the whole bin of `raw` as "at least as large" (to within a bin, 28% of raw with
  // the default width): never below log_p(raw), and what a recurrence test wants — a value that
  // repeats exactly (a square wave's edge) sits anywhere in its bin, and interpolation would count
  // only the part of its earlier copies above that point.
  [[nodiscard]] T log_p_bin(T raw) const noexcept {
    const T p = rank_of(raw).p_bin;
    return p < T(1) ? std::log(p) : T(0);
  }

  [[nodiscard]] std::size_t count() const noexcept { return count_; }
  // The effective number of samples ranked against, the next one included: (Σw + w_new) / w_new,
  // n + 1 at first, then up to (span + 1) / 2. p is never below its inverse.
  [[nodiscard]] T effective_count() const noexcept {
    const T w_new = unit_ * inverse_decay_;
    return (total_ + w_new) / w_new;
  }
  [[nodiscard]] T span() const noexcept { return T(2) / (T(1) - decay_) - T(1); }

  void reset() noexcept {
    weights_.fill(T(0));
    total_ = T(0);
    unit_ = T(1);
    count_ = 0;
  }

 private:
  // Position on the histogram's axis, in bins: log1p(raw) / bin_width (+Inf for raw = +Inf).
  [[nodiscard]] T position(T raw) const noexcept {
    return std::log1p(raw < T(0) ? T(0) : raw) * inverse_width_;
  }
  [[nodiscard]] static std::size_t bin_at(T pos) noexcept {
    return pos < static_cast<T>(Bins - 1) ? static_cast<std::size_t>(pos) : Bins - 1;
  }

  [[nodiscard]] rank rank_at(T pos, std::size_t b) const noexcept {
    if (count_ == 0) {
      return {T(1), T(1), T(1)};
    }
    // The weight above bin b, summed from the nearer end: most raw scores are small, and a chain of
    // 60 dependent additions would cost more than the rest of the detector. From below it is
    // total − prefix, whose rounding (≈ eps · total) is far below the smallest p, 1/n_eff.
    T above = T(0);
    if (b < Bins / 2) {
      T through = T(0);
      for (std::size_t i = 0; i <= b; ++i) {
        through += weights_[i];
      }
      above = total_ - through;
      above = above > T(0) ? above : T(0);
    } else {
      for (std::size_t i = b + 1; i < Bins; ++i) {
        above += weights_[i];
      }
    }
    // Within its bin the sample is placed by interpolation of the weight (the bin's mass taken as
    // spread evenly over it, or thinning out in the tail: below), so p is continuous in raw rather
    // than a staircase; the open last bin counts half. The sample itself is counted with the weight
    // it will get: 0 < p ≤ 1.
    const T into = b == Bins - 1 ? T(0.5) : pos - static_cast<T>(b);
    const T w_new = unit_ * inverse_decay_;
    const T total = total_ + w_new;
    // In the tail (less than tail_share of the weight at or above the bin) the mass thins out across
    // a bin — a Gaussian's by a factor 17 over the bin of |z| = 3 — and spreading it evenly would put
    // most of it above the sample: p several times too large where thresholds sit. There the density
    // within the bin is taken as falling exponentially, at the rate of the neighbouring bins,
    // λ = ln((W[b−1] + W[b]) / (W[b] + W[b+1])) (exact for an exponential density, and defined when
    // the bin above is empty), and the share of W[b] above the sample is (e^{−λ·into} − e^{−λ}) /
    // (1 − e^{−λ}): 1 − into as λ → 0, continuous at the bin's edges. Off the tail, or where the
    // density rises (λ ≤ 0), the even spread.
    T share_above = T(1) - into;
    const T here = weights_[b];
    if (b > 0 && b < Bins - 1 && here > T(0) && above + here + w_new < T(tail_share) * total) {
      const T ratio = (weights_[b - 1] + here) / (here + weights_[b + 1]);
      if (ratio > T(1)) {
        const T lambda = std::log(ratio);
        const T whole = std::expm1(-lambda);  // −(1 − e^{−λ}), < 0
        share_above = (std::expm1(-lambda * into) - whole) / -whole;
      }
    }
    // graded: beyond everything recent (no material weight at or above the sample: less than a
    // sample of about 7 spans ago), the sample's own weight decays by e per bin past the highest
    // material bin, so that "never seen" still grades how far beyond — 2 bins past is rarer than just
    // past. At most e^-20 (graded stays above 0). p and p_bin keep the whole weight.
    T own = w_new;
    const T material = unit_ * T(1e-3);
    if (above + weights_[b] < material) {
      std::size_t top = b;
      while (top > 0 && weights_[top] < material) {
        --top;
      }
      const T extra = pos - static_cast<T>(top + 1);
      if (extra > T(0)) {
        own *= std::exp(-(extra < T(20) ? extra : T(20)));
      }
    }
    const T p = (above + share_above * here + w_new) / total;
    const T graded = (above + share_above * here + own) / total;
    const T p_bin = (above + weights_[b] + w_new) / total;
    return {p < T(1) ? p : T(1), p_bin < T(1) ? p_bin : T(1), graded < T(1) ? graded : T(1)};
  }

  [[nodiscard]] T log_p_at(T pos, std::size_t b) const noexcept {
    const T p = rank_at(pos, b).p;
    return p < T(1) ? std::log(p) : T(0);
  }

  void learn(std::size_t b) noexcept {
    ++count_;
    unit_ *= inverse_decay_;  // every older weight shrinks by `decay` relative to the new one
    weights_[b] += unit_;
    total_ += unit_;
    if (unit_ > T(1e30)) {  // renormalise long before overflow (float reaches 3e38)
      total_ = T(0);
      for (auto& w : weights_) {
        w /= unit_;
        total_ += w;  // re-summed: the running total's rounding does not carry over
      }
      unit_ = T(1);
    }
  }

  static T checked_span(T span) {
    if (!(span >= T(1)) || !detail::is_finite(span)) {
      throw std::invalid_argument("streamstats::score_rank: span must be a finite number >= 1, got " +
                                  std::to_string(static_cast<double>(span)));
    }
    return span;
  }
  static T checked_width(T w) {
    if (!(w > T(0)) || !detail::is_finite(w)) {
      throw std::invalid_argument("streamstats::score_rank: bin_width must be a finite number > 0, got " +
                                  std::to_string(static_cast<double>(w)));
    }
    return w;
  }

  // Below this share of the weight at or above a sample's bin, the bin's mass is spread exponentially.
  static constexpr double tail_share = 0.1;

  T decay_;
  T inverse_decay_;
  T inverse_width_;
  T total_ = T(0);
  T unit_ = T(1);  // the weight the latest sample received
  std::size_t count_ = 0;
  std::array<T, Bins> weights_{};  // last: see zscore_detector's members
};

}  // namespace streamstats
