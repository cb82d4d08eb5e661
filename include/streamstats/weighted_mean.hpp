// streamstats — weighted running mean.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/detail/common.hpp>

#include <cstddef>
#include <limits>

namespace streamstats {

namespace detail {

// The weight policy shared by weighted_mean and weighted_variance: a weight must be finite and
// non-negative. A negative weight has no meaning for either convention (frequency or reliability)
// and would let Σw reach 0 with samples inside, and a NaN or infinite weight would poison the state
// for good; such a push is rejected (nothing changes) and counted. A zero weight is valid and
// changes nothing, whatever x is (NumPy: a zero weight removes the sample from the sums).
template <class T>
[[nodiscard]] constexpr bool positive_finite_weight(T w) noexcept {
  return w > T(0) && w <= std::numeric_limits<T>::max();  // both false for NaN
}

}  // namespace detail

// Weighted arithmetic mean Σwᵢxᵢ / Σwᵢ on data shifted by the first sample K with a positive weight,
// as variance<T> shifts: two running sums W = Σw and Σw·(x − K), mean() = K + Σw(x − K) / W.
// The shift keeps the summands O(spread) instead of O(offset), so data offset by 1e9 keeps ~15
// digits (the unshifted Σwx would carry eps·1e9 per term). Why sums and not West's incremental
// mean (weighted_variance uses it, it needs the mean at every step): West divides by W at every
// push, and the divider's throughput made the push twice as slow (2.4 vs 1.15 ns) for the same accuracy
// — both are first-order sums of rounding errors of size eps·w·|x − K|.
// value() = mean() = numpy.average(x, weights=w) (the same for frequency and reliability weights:
// only the variance tells them apart, see weighted_variance).
//
// Weights: push(x, w) returns false and changes nothing for a negative, NaN or infinite w (counted
// by rejected()); w == 0 is accepted and changes nothing. count() is the number of samples with a
// positive weight. Non-finite x with a positive weight follows IEEE, as mean<T>: NaN (or +Inf with
// −Inf) makes the mean NaN, one sign of infinity makes it that infinity, until reset().
// Below the minimum count: mean() is NaN while no positive weight has been pushed.
//
// Mergeable exactly (Chan et al. with weights, see merge()).
template <class T>
class weighted_mean {
  friend struct detail::state_access;
  STREAMSTATS_REQUIRE_SCALAR(T);
  friend struct detail::state_access;

 public:
  using value_type = T;

  constexpr weighted_mean() noexcept = default;

  // Adds x with weight w; false (and nothing changes) when w is negative, NaN or infinite.
  constexpr bool push(const T& x, const T& w) noexcept {
    // One test for the common case, a positive finite weight (false for NaN too); the rest is rare.
    if (!detail::positive_finite_weight(w)) {
      const bool zero = w == T(0);
      rejected_ += zero ? 0U : 1U;
      return zero;
    }
    if (n_ == 0) {
      shift_ = detail::is_finite(x) ? x : T(0);
    }
    ++n_;
    sum_w_ += w;
    sum_wy_ += w * (x - shift_);
    return true;
  }
  constexpr bool operator()(const T& x, const T& w) noexcept { return push(x, w); }

  // Samples pushed with a positive weight since construction or reset().
  [[nodiscard]] constexpr std::size_t count() const noexcept { return n_; }
  // Pushes refused for a negative, NaN or infinite weight.
  [[nodiscard]] constexpr std::size_t rejected() const noexcept { return rejected_; }
  // Σw over the accepted samples (0 when empty).
  [[nodiscard]] constexpr T sum_of_weights() const noexcept { return sum_w_; }
  // Σwx / Σw = numpy.average(x, weights=w); NaN when count() == 0.
  [[nodiscard]] constexpr T mean() const noexcept {
    return n_ == 0 ? detail::quiet_nan<T>() : shift_ + sum_wy_ / sum_w_;
  }
  // The primary result: mean().
  [[nodiscard]] constexpr T value() const noexcept { return mean(); }

  constexpr void reset() noexcept { *this = weighted_mean{}; }

  // The sums add, the other part's re-expressed around this shift: Σw(x − K_a) = Σw(x − K_b) +
  // W_b·(K_b − K_a), where K_b − K_a is exact for shifts within a factor 2 (Sterbenz), as shards of
  // one stream are. The rejected counts add.
  constexpr void merge(const weighted_mean& other) noexcept {
    rejected_ += other.rejected_;
    if (other.n_ == 0) {
      return;
    }
    if (n_ == 0) {
      const std::size_t rejected = rejected_;
      *this = other;
      rejected_ = rejected;
      return;
    }
    sum_wy_ += other.sum_wy_ + other.sum_w_ * (other.shift_ - shift_);
    sum_w_ += other.sum_w_;
    n_ += other.n_;
  }
  constexpr weighted_mean& operator+=(const weighted_mean& other) noexcept {
    merge(other);
    return *this;
  }

 private:
  std::size_t n_ = 0;
  std::size_t rejected_ = 0;
  T shift_{};  // K: the first sample with a positive weight (0 if it was not finite)
  T sum_w_{};
  T sum_wy_{};  // Σw(x − K)
};

}  // namespace streamstats
