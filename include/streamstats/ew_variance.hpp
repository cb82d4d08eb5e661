// streamstats — exponentially weighted mean and variance (pandas ewm().var()).
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/detail/common.hpp>
#include <streamstats/ema.hpp>

#include <cmath>
#include <cstddef>
#include <stdexcept>

namespace streamstats {

// Exponentially weighted mean and variance, equal to pandas Series.ewm(...).mean() / .var(bias=...)
// for both adjust conventions.
//
// Construction as ema<T>: ew_variance<double>(alpha, convention), from_span(n), from_halflife(h),
// from_com(c), default convention pandas_adjust_false; invalid parameters throw
// std::invalid_argument. ema_convention::talib is refused (TA-Lib defines no exponentially weighted
// variance).
//
// Update (West 1979, "Updating mean and variance estimates: an improved method"; Finch 2009,
// "Incremental calculation of weighted mean and variance"), written as pandas' ewmcov does with
// x = y: with w_old the decayed weight of the history and w_new the new sample's weight,
//   mean' = (w_old·mean + w_new·x) / (w_old + w_new)
//   var'  = (w_old·(var + (mean − mean')²) + w_new·(x − mean')²) / (w_old + w_new)
// Both terms are non-negative, so the variance is never negative and there is no E[x²] − E[x]²
// cancellation (exact on a constant series).
// Offsets: pandas runs this recurrence on the raw values, so its weighted mean carries an absolute
// error of eps·|mean| (1e-7 at 1e9) into every squared deviation — pandas' var is off by up to 4e-7
// relative on 1e9 + N(0,1) (measured by tests/gen_pandas_reference.py against the same recurrence in
// 60-digit arithmetic). Here the mean is kept as a double-word pair (shift_ + mean_): the samples
// enter as x − shift_ (exact by Sterbenz's lemma when x is within a factor 2 of the mean), the
// recurrence runs on O(σ) numbers, and after each update the pair is renormalised with TwoSum so that
// shift_ tracks the mean. The result agrees with the 60-digit reference to ~1e-15 relative.
//
// Conventions:
//   mean()                the weighted mean (= ema<T> with the same parameters); NaN before the first
//                         observation
//   population_variance() the weighted variance above, pandas var(bias=True); NaN before the first
//                         observation, 0 after one
//   sample_variance()     pandas var(bias=False): population_variance()·(Σw)² / ((Σw)² − Σw²), the
//                         reliability-weights correction, with Σw and Σw² decayed in O(1) as in pandas
//                         (for adjust=False they are renormalised so that Σw = 1). NaN while
//                         (Σw)² − Σw² ≤ 0, i.e. before the second observation (and always for α = 1,
//                         where one sample carries all the weight). Also value().
//   stddev(), population_stddev()  their square roots (pandas .std() is the bias=False one)
// Missing values: pandas ewm(ignore_na=False) — a non-finite sample (NaN or ±Inf, which pandas turns
// into NaN) is no observation but decays the history (see ema<T>); it never poisons the state.
//
// Not mergeable: the weights depend on the order of the samples.
template <class T>
class ew_variance {
  STREAMSTATS_REQUIRE_SCALAR(T);
  friend struct detail::state_access;

 public:
  using value_type = T;

  explicit constexpr ew_variance(T alpha, ema_convention convention = ema_convention::pandas_adjust_false)
      : alpha_(detail::checked_alpha("ew_variance", alpha)),
        adjust_(convention == ema_convention::pandas_adjust_true) {
    if (convention == ema_convention::talib) {
      throw std::invalid_argument(
          "streamstats::ew_variance: the talib convention is not defined for a variance (TA-Lib has "
          "no exponentially weighted variance); use pandas_adjust_false or pandas_adjust_true");
    }
  }
  // α = 2/(span + 1), span ≥ 1.
  [[nodiscard]] static constexpr ew_variance from_span(
      T span, ema_convention convention = ema_convention::pandas_adjust_false) {
    return ew_variance(detail::alpha_from_span("ew_variance", span), convention);
  }
  // α = 1 − exp(−ln 2 / halflife), halflife > 0.
  [[nodiscard]] static ew_variance from_halflife(
      T halflife, ema_convention convention = ema_convention::pandas_adjust_false) {
    return ew_variance(detail::alpha_from_halflife("ew_variance", halflife), convention);
  }
  // α = 1/(1 + com), com ≥ 0.
  [[nodiscard]] static constexpr ew_variance from_com(
      T com, ema_convention convention = ema_convention::pandas_adjust_false) {
    return ew_variance(detail::alpha_from_com("ew_variance", com), convention);
  }

  // pandas/_libs/window/aggregations.pyx, ewmcov() with input_x = input_y, ignore_na=False.
  constexpr void push(const T& x) noexcept {
    ++n_;
    const bool observation = detail::is_finite(x);
    if (observation) {
      ++observations_;
    }
    if (observations_ > 1 || (observations_ == 1 && !observation)) {
      const T decay = T(1) - alpha_;
      sum_wt_ *= decay;
      sum_wt2_ *= decay * decay;
      old_wt_ *= decay;
      if (observation) {
        const T new_wt = adjust_ ? T(1) : alpha_;
        const T y = x - shift_;
        const T old_mean = mean_;
        if (mean_ != y) {  // pandas' guard: keeps a constant series exactly constant
          mean_ = (old_wt_ * old_mean + new_wt * y) / (old_wt_ + new_wt);
        }
        const T dm = old_mean - mean_;
        const T dy = y - mean_;
        var_ = (old_wt_ * (var_ + dm * dm) + new_wt * (dy * dy)) / (old_wt_ + new_wt);
        sum_wt_ += new_wt;
        sum_wt2_ += new_wt * new_wt;
        old_wt_ += new_wt;
        if (!adjust_) {
          sum_wt_ /= old_wt_;
          sum_wt2_ /= old_wt_ * old_wt_;
          old_wt_ = T(1);
        }
        if (detail::is_finite(shift_ + mean_)) {  // an overflowed mean has no finite split
          const auto r = detail::two_sum(shift_, mean_);
          shift_ = r.sum;
          mean_ = r.err;
        }
      }
    } else if (observation) {  // the first observation
      shift_ = x;
      mean_ = T(0);
    }
  }
  constexpr void operator()(const T& x) noexcept { push(x); }

  template <class It>
  constexpr void push(It first, It last) {
    for (; first != last; ++first) {
      push(static_cast<T>(*first));
    }
  }

  // Samples pushed (NaN included) since construction or reset().
  [[nodiscard]] constexpr std::size_t count() const noexcept { return n_; }
  // Weighted mean; NaN before the first observation.
  [[nodiscard]] constexpr T mean() const noexcept {
    return observations_ == 0 ? detail::quiet_nan<T>() : shift_ + mean_;
  }
  // pandas var(bias=True); NaN before the first observation.
  [[nodiscard]] constexpr T population_variance() const noexcept {
    return observations_ == 0 ? detail::quiet_nan<T>() : var_;
  }
  // pandas var(bias=False); NaN before the second observation (and for α = 1).
  [[nodiscard]] constexpr T sample_variance() const noexcept {
    if (observations_ == 0) {
      return detail::quiet_nan<T>();
    }
    const T numerator = sum_wt_ * sum_wt_;
    const T denominator = numerator - sum_wt2_;
    return denominator > T(0) ? (numerator / denominator) * var_ : detail::quiet_nan<T>();
  }
  // sqrt(sample_variance()) (pandas .std()).
  [[nodiscard]] T stddev() const noexcept { return std::sqrt(sample_variance()); }
  // sqrt(population_variance()).
  [[nodiscard]] T population_stddev() const noexcept { return std::sqrt(population_variance()); }
  // The primary result: sample_variance().
  [[nodiscard]] constexpr T value() const noexcept { return sample_variance(); }
  [[nodiscard]] constexpr T alpha() const noexcept { return alpha_; }
  [[nodiscard]] constexpr ema_convention convention() const noexcept {
    return adjust_ ? ema_convention::pandas_adjust_true : ema_convention::pandas_adjust_false;
  }

  constexpr void reset() noexcept {
    n_ = 0;
    observations_ = 0;
    shift_ = T(0);
    mean_ = T(0);
    var_ = T(0);
    sum_wt_ = T(1);
    sum_wt2_ = T(1);
    old_wt_ = T(1);
  }

 private:
  T alpha_;
  bool adjust_;
  std::size_t n_ = 0;
  std::size_t observations_ = 0;
  T shift_ = T(0);  // high part of the weighted mean (the first observation, then renormalised)
  T mean_ = T(0);   // low part: weighted mean − shift_
  T var_ = T(0);
  T sum_wt_ = T(1);   // Σw (decayed), relative to the newest sample's weight
  T sum_wt2_ = T(1);  // Σw²
  T old_wt_ = T(1);   // weight of the history
};

}  // namespace streamstats
