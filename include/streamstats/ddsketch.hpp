// streamstats — DDSketch: mergeable quantiles with a relative-error guarantee, in fixed arrays.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/detail/common.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

namespace streamstats {

namespace detail {

// DDSketch's cubically interpolated logarithm (Masson, Rim & Lee 2019, "DDSketch: a fast and
// fully-mergeable quantile sketch with relative-error guarantees", and the reference
// implementation's CubicallyInterpolatedMapping): for x = 2^e·(1 + s), s ∈ [0, 1),
//   L(x) = e + P(s),   P(s) = ((A·s + B)·s + C)·s,   A = 6/35, B = −3/5, C = 10/7,
// a continuous increasing approximation of log2 x that needs no libm call, only the exponent and
// significand bits. P(0) = 0 and P(1) = 1. Its slope against ln x is d ln x / dL = 1/((1+s)·P'(s)),
// whose largest value is 7/10 (attained at s = 0 and s = 2/3; exact log2 would be ln 2 ≈ 0.693), so
// a bin one unit of m·L wide spans at most 0.7/m in ln x: with m = 0.7 / ln γ every bin (lo, hi] has
// hi/lo ≤ γ = (1 + α)/(1 − α), and the representative 2·lo·hi/(lo + hi) is within α of every x in
// the bin. 0.7/ln 2 ≈ 1.0099: 1% more bins than the exact logarithm for the same α.
struct cubic_log_mapping {
  static constexpr double a = 6.0 / 35.0;
  static constexpr double b = -3.0 / 5.0;
  static constexpr double c = 10.0 / 7.0;
  static constexpr double max_slope = 0.7;  // max of d ln x / dL

  // L(v) for a normal, positive, finite double v.
  [[nodiscard]] static double log_like(double v) noexcept {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof bits);
    const auto e = static_cast<double>(static_cast<int>((bits >> 52) & 0x7ffU) - 1023);
    const double s = static_cast<double>(bits & ((std::uint64_t{1} << 52) - 1)) * 0x1p-52;
    return ((a * s + b) * s + c) * s + e;
  }

  // The x with L(x) = y: e = ⌊y⌋, then P(s) = y − e solved by Cardano's formula (as the reference
  // implementation does) and one Newton step against its rounding.
  [[nodiscard]] static double log_like_inverse(double y) noexcept {
    const double e = std::floor(y);
    const double f = y - e;
    const double d0 = b * b - 3 * a * c;
    const double d1 = 2 * b * b * b - 9 * a * b * c - 27 * a * a * f;
    const double p = std::cbrt((d1 - std::sqrt(d1 * d1 - 4 * d0 * d0 * d0)) / 2);
    double s = -(b + p + d0 / p) / (3 * a);
    s -= (((a * s + b) * s + c) * s - f) / ((3 * a * s + 2 * b) * s + c);
    return std::ldexp(1 + s, static_cast<int>(e));
  }
};

// One sign's bins: counts for the keys [min_key, max_key] (at most Bins of them) in a ring of Bins
// slots addressed by key mod Bins, every slot outside the range zero. When a key would make the range
// wider than Bins, the lowest keys collapse: their counts move into the lowest key that still fits
// (max_key − Bins + 1), which from then on stands for every key at or below it. The final state is a
// function of the multiset of keys only (the lowest admissible key only rises, and a key above it
// always gets its own slot), so any order of pushes and merges gives bit-identical bins.
template <std::size_t Bins>
class ddsketch_store {
  friend struct detail::state_access;

 public:
  static constexpr auto span = static_cast<std::int64_t>(Bins);

  // Adds `n` (> 0) samples at `key`. O(1), except when the range moves up by d keys: the d lowest
  // keys are folded once (O(min(d, Bins))); the range never moves down, so over a stream the folds
  // are amortised O(1) per push.
  void add(std::int64_t key, std::uint64_t n) noexcept {
    if (total_ == 0) {
      min_key_ = key;
      max_key_ = key;
    } else if (key > max_key_) {
      if (key - min_key_ >= span) {
        const std::int64_t lowest = key - span + 1;
        const std::int64_t last = lowest - 1 < max_key_ ? lowest - 1 : max_key_;
        std::uint64_t folded = 0;
        for (std::int64_t k = min_key_; k <= last; ++k) {
          folded += counts_[slot(k)];
          counts_[slot(k)] = 0;
        }
        counts_[slot(lowest)] += folded;
        min_key_ = lowest;
        collapsed_ = true;
      }
      max_key_ = key;
    } else if (key < min_key_) {
      if (max_key_ - key >= span) {
        key = max_key_ - span + 1;
        collapsed_ = true;
      }
      if (key < min_key_) {
        min_key_ = key;
      }
    }
    counts_[slot(key)] += n;
    total_ += n;
  }

  void merge(const ddsketch_store& other) noexcept {
    if (other.total_ == 0) {
      return;
    }
    // Highest key first: the range then reaches its final top at once and the folds of the lowest
    // keys happen once, instead of at every step up.
    for (std::int64_t k = other.max_key_; k >= other.min_key_; --k) {
      const std::uint64_t n = other.counts_[slot(k)];
      if (n != 0) {
        add(k, n);
      }
    }
    collapsed_ = collapsed_ || other.collapsed_;
  }

  // The key holding the sample of 0-based rank r, counted from the lowest key (r < total()).
  [[nodiscard]] std::int64_t key_at_rank_from_low(std::uint64_t r) const noexcept {
    std::uint64_t seen = 0;
    for (std::int64_t k = min_key_; k < max_key_; ++k) {
      seen += counts_[slot(k)];
      if (seen > r) {
        return k;
      }
    }
    return max_key_;
  }
  // The key holding the sample of 0-based rank r, counted from the highest key (r < total()).
  [[nodiscard]] std::int64_t key_at_rank_from_high(std::uint64_t r) const noexcept {
    std::uint64_t seen = 0;
    for (std::int64_t k = max_key_; k > min_key_; --k) {
      seen += counts_[slot(k)];
      if (seen > r) {
        return k;
      }
    }
    return min_key_;
  }

  [[nodiscard]] std::uint64_t total() const noexcept { return total_; }
  [[nodiscard]] bool collapsed() const noexcept { return collapsed_; }
  [[nodiscard]] std::int64_t min_key() const noexcept { return min_key_; }
  [[nodiscard]] std::int64_t max_key() const noexcept { return max_key_; }
  [[nodiscard]] std::uint64_t count_at(std::int64_t key) const noexcept {
    return total_ == 0 || key < min_key_ || key > max_key_ ? 0 : counts_[slot(key)];
  }

  friend bool operator==(const ddsketch_store& l, const ddsketch_store& r) noexcept {
    return l.total_ == r.total_ && l.min_key_ == r.min_key_ && l.max_key_ == r.max_key_ &&
           l.collapsed_ == r.collapsed_ && l.counts_ == r.counts_;
  }

 private:
  // key mod Bins for negative keys too (two's complement: the low bits are the residue).
  [[nodiscard]] static std::size_t slot(std::int64_t key) noexcept {
    return static_cast<std::size_t>(static_cast<std::uint64_t>(key) & (Bins - 1));
  }

  std::uint64_t total_ = 0;
  std::int64_t min_key_ = 0;
  std::int64_t max_key_ = 0;
  bool collapsed_ = false;
  std::array<std::uint64_t, Bins> counts_{};
};

}  // namespace detail

// Quantiles with a relative-error guarantee that merge exactly across shards: DDSketch (Masson, Rim
// & Lee, VLDB 2019) with the cubically interpolated index mapping, its bins in fixed arrays.
//
//   streamstats::ddsketch<double, 1024> s(0.01);   // relative accuracy α = 1%
//   s.push(x);  s.quantile(0.99);  a.merge(b);  a += b;
//
// Guarantee: for every q ∈ [0, 1] answered from a bin that has not collapsed (below),
// |quantile(q) − x_q| ≤ α·|x_q|, where x_q is the exact lower quantile: the sample of 0-based rank
// ⌊q·(n − 1)⌋ in sorted order (numpy.quantile(x, q, method='lower')). quantile(0) and quantile(1)
// are the exact min() and max(), and every answer is clamped into [min(), max()].
// Each sample goes to the bin of key ⌈m·L(|x|)⌉ (L: cubic_log_mapping above, m = 0.7/ln γ·(1 + 1e-9):
// the bins are 1e-9 narrower than needed, a margin for the rounding of the key and of the bin's
// value), a positive and a negative store of Bins counters each, plus counters for zero, +Inf, −Inf.
//
// Collapse: a store holds at most Bins consecutive keys, i.e. a ratio of about 2^(Bins·ln γ/0.7)
// between its largest and smallest magnitude (α = 0.01, Bins = 1024: 2^29.4 ≈ 7e8). When a sample
// would widen that range, the keys of the smallest magnitudes collapse into the lowest key that
// still fits (DDSketch's collapsing-lowest store): quantiles answered by that lowest bin of the
// positive store (the smallest positive values) or of the negative store (the negative values
// nearest zero) lose the guarantee — they answer the bin's value, larger in magnitude than the truth.
// Every other quantile, in particular the upper ones of positive data and the maximum, keeps it.
// collapsed() says whether it happened. Bins must be a power of two (the ring index is a mask).
//
// Zero and non-finite input: |x| below the smallest normal double (zero, ±0, subnormals) counts as
// 0 and is answered as exactly 0; ±Inf are counted and answered as ±Inf when the rank lands on them
// (exact); NaN is rejected (not counted in count(), counted by rejected()). float and long double
// samples are indexed through double (long double beyond double's range counts as ±Inf).
//
// Cost: push O(1) (a fold when the range moves up is amortised, see ddsketch_store::add), no libm
// call, no allocation; quantile(q) O(Bins) (a walk over the occupied keys from the nearer end);
// merge O(Bins). Memory 2·Bins·8 bytes + 136 (Bins = 1024: 16520 bytes).
// Below the minimum count: quantile(q), value(), min(), max() are NaN when count() == 0; quantile(q)
// is NaN for q outside [0, 1] or NaN. The accuracy α ∈ (0, 1) is checked at construction
// (std::invalid_argument naming alpha).
//
// Mergeable: merge()/+= adds the other sketch's bins key by key; with the same α the result is
// bit-identical to one sketch fed every sample (operator== compares the bins). Sketches with a
// different α merge through the other's bin values (each re-keyed here), and the guarantee becomes
// α_this + α_other for those samples.
template <class T, std::size_t Bins>
class ddsketch {
  friend struct detail::state_access;
  STREAMSTATS_REQUIRE_SCALAR(T);
  static_assert(Bins >= 2 && (Bins & (Bins - 1)) == 0,
                "streamstats: ddsketch<T, Bins> needs Bins to be a power of two (e.g. 512, 1024, 2048)");

 public:
  using value_type = T;

  // α = 1% relative accuracy.
  ddsketch() noexcept : ddsketch(0.01, 0) {}
  // Relative accuracy α ∈ (0, 1); throws std::invalid_argument naming alpha otherwise.
  explicit ddsketch(double alpha) : ddsketch(checked_alpha(alpha), 0) {}

  void push(const T& x) noexcept {
    const auto v = static_cast<double>(x);
    if (v != v) {
      ++rejected_;
      return;
    }
    ++n_;
    min_ = v < min_ ? v : min_;
    max_ = v > max_ ? v : max_;
    const double mag = detail::abs(v);
    if (mag >= std::numeric_limits<double>::min() && mag <= std::numeric_limits<double>::max()) {
      const std::int64_t k = key(mag);
      if (v > 0) {
        positive_.add(k, 1);
      } else {
        negative_.add(k, 1);
      }
    } else if (mag < std::numeric_limits<double>::min()) {
      ++zero_;
    } else if (v > 0) {
      ++pos_inf_;
    } else {
      ++neg_inf_;
    }
  }
  void operator()(const T& x) noexcept { push(x); }

  template <class It>
  void push(It first, It last) {
    for (; first != last; ++first) {
      push(static_cast<T>(*first));
    }
  }

  // The lower q-quantile (rank ⌊q·(n − 1)⌋), within α relative of the exact one (see the class
  // comment for collapsed bins); NaN when empty or q ∉ [0, 1].
  [[nodiscard]] T quantile(double q) const noexcept {
    if (n_ == 0 || !(q >= 0.0 && q <= 1.0)) {
      return detail::quiet_nan<T>();
    }
    if (q == 0.0) {
      return static_cast<T>(min_);
    }
    if (q == 1.0) {
      return static_cast<T>(max_);
    }
    const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(n_ - 1));
    return static_cast<T>(clamp(value_at_rank(rank)));
  }
  // The median: quantile(0.5).
  [[nodiscard]] T value() const noexcept { return quantile(0.5); }

  // Samples counted (every one but NaN).
  [[nodiscard]] std::size_t count() const noexcept { return static_cast<std::size_t>(n_); }
  // NaN samples refused.
  [[nodiscard]] std::size_t rejected() const noexcept { return static_cast<std::size_t>(rejected_); }
  // Samples counted as 0 (|x| below the smallest normal double).
  [[nodiscard]] std::size_t zero_count() const noexcept { return static_cast<std::size_t>(zero_); }
  // Exact extremes; NaN when empty.
  [[nodiscard]] T min() const noexcept { return n_ == 0 ? detail::quiet_nan<T>() : static_cast<T>(min_); }
  [[nodiscard]] T max() const noexcept { return n_ == 0 ? detail::quiet_nan<T>() : static_cast<T>(max_); }
  [[nodiscard]] double alpha() const noexcept { return alpha_; }
  // True once either store has collapsed its lowest keys (see the class comment).
  [[nodiscard]] bool collapsed() const noexcept { return positive_.collapsed() || negative_.collapsed(); }
  [[nodiscard]] static constexpr std::size_t bins() noexcept { return Bins; }

  // Back to empty; α kept.
  void reset() noexcept { *this = ddsketch(alpha_, 0); }

  void merge(const ddsketch& other) noexcept {
    n_ += other.n_;
    rejected_ += other.rejected_;
    zero_ += other.zero_;
    pos_inf_ += other.pos_inf_;
    neg_inf_ += other.neg_inf_;
    min_ = other.min_ < min_ ? other.min_ : min_;
    max_ = other.max_ > max_ ? other.max_ : max_;
    if (other.multiplier_ == multiplier_) {
      positive_.merge(other.positive_);
      negative_.merge(other.negative_);
      return;
    }
    rekey(other.positive_, other, positive_);
    rekey(other.negative_, other, negative_);
  }
  ddsketch& operator+=(const ddsketch& other) noexcept {
    merge(other);
    return *this;
  }

  // Same α, same counts and bit-identical bins and extremes.
  friend bool operator==(const ddsketch& l, const ddsketch& r) noexcept {
    return l.multiplier_ == r.multiplier_ && l.n_ == r.n_ && l.rejected_ == r.rejected_ &&
           l.zero_ == r.zero_ && l.pos_inf_ == r.pos_inf_ && l.neg_inf_ == r.neg_inf_ &&
           same_bits(l.min_, r.min_) && same_bits(l.max_, r.max_) && l.positive_ == r.positive_ &&
           l.negative_ == r.negative_;
  }
  friend bool operator!=(const ddsketch& l, const ddsketch& r) noexcept { return !(l == r); }

 private:
  using store = detail::ddsketch_store<Bins>;
  using mapping = detail::cubic_log_mapping;

  ddsketch(double alpha, int /*checked*/) noexcept
      : alpha_(alpha), multiplier_(mapping::max_slope / std::log1p(2 * alpha / (1 - alpha)) * (1 + 1e-9)) {}

  static double checked_alpha(double alpha) {
    if (!(alpha > 0.0 && alpha < 1.0)) {
      throw std::invalid_argument(
          "streamstats::ddsketch: alpha (the relative accuracy) must be in (0, 1), got " +
          std::to_string(alpha));
    }
    return alpha;
  }

  static bool same_bits(double a, double b) noexcept { return std::memcmp(&a, &b, sizeof a) == 0; }

  // ⌈m·L(v)⌉ without a libm call (the conversion truncates; one compare rounds up).
  [[nodiscard]] std::int64_t key(double v) const noexcept {
    const double y = mapping::log_like(v) * multiplier_;
    auto k = static_cast<std::int64_t>(y);
    if (static_cast<double>(k) < y) {
      ++k;
    }
    return k;
  }

  // The bin (lo, hi] of key k and its representative 2·lo·hi/(lo + hi), written lo·2/(1 + lo/hi) so
  // that an infinite hi (the top key) gives 2·lo rather than NaN (clamping to max() follows).
  [[nodiscard]] double bin_value(std::int64_t k) const noexcept {
    const double lo = mapping::log_like_inverse(static_cast<double>(k - 1) / multiplier_);
    const double hi = mapping::log_like_inverse(static_cast<double>(k) / multiplier_);
    return lo * (2 / (1 + lo / hi));
  }

  [[nodiscard]] double clamp(double v) const noexcept { return v < min_ ? min_ : (v > max_ ? max_ : v); }

  // Sorted order: −Inf, the negative store from its highest key (largest magnitude) down, zeros, the
  // positive store from its lowest key up, +Inf. The walk starts from the nearer end.
  [[nodiscard]] double value_at_rank(std::uint64_t r) const noexcept {
    const std::uint64_t neg = negative_.total();
    const std::uint64_t pos = positive_.total();
    if (r < n_ / 2) {
      if (r < neg_inf_) {
        return -std::numeric_limits<double>::infinity();
      }
      r -= neg_inf_;
      if (r < neg) {
        return -bin_value(negative_.key_at_rank_from_high(r));
      }
      r -= neg;
      if (r < zero_) {
        return 0.0;
      }
      return bin_value(positive_.key_at_rank_from_low(r - zero_));
    }
    std::uint64_t t = n_ - 1 - r;  // rank from the top
    if (t < pos_inf_) {
      return std::numeric_limits<double>::infinity();
    }
    t -= pos_inf_;
    if (t < pos) {
      return bin_value(positive_.key_at_rank_from_high(t));
    }
    t -= pos;
    if (t < zero_) {
      return 0.0;
    }
    return -bin_value(negative_.key_at_rank_from_low(t - zero_));
  }

  // Another α: each of the other's bins re-enters at the key of its value here.
  void rekey(const store& from, const ddsketch& other, store& to) noexcept {
    if (from.total() == 0) {
      return;
    }
    for (std::int64_t k = from.min_key(); k <= from.max_key(); ++k) {
      const std::uint64_t c = from.count_at(k);
      if (c != 0) {
        const double v = other.bin_value(k);
        const double mag =
            v < std::numeric_limits<double>::min()
                ? std::numeric_limits<double>::min()
                : (v > std::numeric_limits<double>::max() ? std::numeric_limits<double>::max() : v);
        to.add(key(mag), c);
      }
    }
  }

  double alpha_;
  double multiplier_;  // m = 0.7 / ln γ (keys per unit of L), 1e-9 generous
  std::uint64_t n_ = 0;
  std::uint64_t rejected_ = 0;
  std::uint64_t zero_ = 0;
  std::uint64_t pos_inf_ = 0;
  std::uint64_t neg_inf_ = 0;
  double min_ = std::numeric_limits<double>::infinity();
  double max_ = -std::numeric_limits<double>::infinity();
  store positive_{};
  store negative_{};
};

}  // namespace streamstats
