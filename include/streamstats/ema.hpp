// streamstats — exponential moving average (pandas and TA-Lib conventions).
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/detail/common.hpp>

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>

namespace streamstats {

// Which reference an exponentially weighted statistic reproduces. Each one is matched to 1e-12
// relative by the tests (pandas 1.5 via tests/gen_pandas_reference.py; TA-Lib by its recurrence).
//   pandas_adjust_false  pandas ewm(adjust=False): seeded with the first sample, then
//                        m = (1 − α)·m + α·x. The default.
//   pandas_adjust_true   pandas ewm(adjust=True): bias-corrected weights, m_t = Σ(1−α)^i x_{t−i} /
//                        Σ(1−α)^i, kept in O(1) as pandas does: the weighted mean and the decayed
//                        weight sum w, w ← (1 − α)·w + 1.
//   talib                TA-Lib TA_EMA: NaN until `period` samples, the first output is their simple
//                        average (at index period − 1), then m = (x − m)·k + m with k = 2/(period + 1).
//                        Needs an integer period, so only from_span(period, ema_convention::talib).
enum class ema_convention { pandas_adjust_false, pandas_adjust_true, talib };

namespace detail {

[[noreturn]] inline void throw_invalid_parameter(const char* who, const char* what, long double got) {
  throw std::invalid_argument(std::string("streamstats::") + who + ": " + what + ", got " +
                              std::to_string(got));
}

// Decay parameters, converted as pandas.core.window.ewm.get_center_of_mass does (α = 1/(1 + com)).
// The negated comparisons make NaN fail every check.
template <class T>
[[nodiscard]] constexpr T checked_alpha(const char* who, T alpha) {
  if (!(alpha > T(0) && alpha <= T(1))) {
    throw_invalid_parameter(who, "alpha must be in (0, 1]", static_cast<long double>(alpha));
  }
  return alpha;
}
template <class T>
[[nodiscard]] constexpr T alpha_from_span(const char* who, T span) {
  if (!(span >= T(1)) || !is_finite(span)) {
    throw_invalid_parameter(who, "span must be a finite number >= 1", static_cast<long double>(span));
  }
  return T(2) / (span + T(1));
}
template <class T>
[[nodiscard]] T alpha_from_halflife(const char* who, T halflife) {
  if (!(halflife > T(0))) {
    throw_invalid_parameter(who, "halflife must be > 0", static_cast<long double>(halflife));
  }
  // 1 − exp(−ln 2 / h): the weight of a sample halves every h samples. An infinite halflife gives
  // α = 0, which is no decay at all.
  const T alpha = -std::expm1(-std::log(T(2)) / halflife);
  if (!(alpha > T(0))) {
    throw_invalid_parameter(who, "halflife must be finite", static_cast<long double>(halflife));
  }
  return alpha;
}
template <class T>
[[nodiscard]] constexpr T alpha_from_com(const char* who, T com) {
  if (!(com >= T(0)) || !is_finite(com)) {
    throw_invalid_parameter(who, "com (center of mass) must be a finite number >= 0",
                            static_cast<long double>(com));
  }
  return T(1) / (T(1) + com);
}

}  // namespace detail

// Exponential moving average of a regularly sampled stream.
//
// Construction: ema<double>(alpha, convention) or the named constructors from_span(n) (α = 2/(n+1)),
// from_halflife(h) (α = 1 − exp(−ln 2/h)), from_com(c) (α = 1/(1+c)), all taking an optional
// ema_convention (default pandas_adjust_false). Invalid parameters throw std::invalid_argument naming
// the parameter (alpha NaN, ≤ 0 or > 1; span < 1; halflife ≤ 0; com < 0; talib without an integer
// period); push() never throws.
//
// value(): the average after the last push; NaN before the first observation (talib: before the
// period-th sample).
//
// Missing values, pandas conventions: exactly pandas' ewm(ignore_na=False), the default. A
// non-finite sample — NaN, and ±Inf too, which pandas turns into NaN before ewm — is not an
// observation (value() is unchanged) but still decays the weight of the history, so the next
// observation weighs more, as if time had passed. Leading missing values are skipped. So a bad
// sample never poisons the average.
// talib convention: TA-Lib has no missing values; NaN and ±Inf propagate (IEEE) until reset().
//
// Not mergeable: an EMA depends on the order of the samples.
template <class T>
class ema {
  STREAMSTATS_REQUIRE_SCALAR(T);
  friend struct detail::state_access;

 public:
  using value_type = T;

  // alpha in (0, 1]; talib needs a period: use from_span.
  explicit constexpr ema(T alpha, ema_convention convention = ema_convention::pandas_adjust_false)
      : ema(detail::checked_alpha("ema", alpha), convention, 0) {
    if (convention == ema_convention::talib) {
      throw std::invalid_argument(
          "streamstats::ema: the talib convention needs an integer period: use "
          "ema<T>::from_span(period, ema_convention::talib)");
    }
  }

  // α = 2/(span + 1), span ≥ 1 (pandas `span`, TA-Lib `optInTimePeriod`; talib needs an integer).
  [[nodiscard]] static constexpr ema from_span(
      T span, ema_convention convention = ema_convention::pandas_adjust_false) {
    const T alpha = detail::alpha_from_span("ema", span);
    std::size_t period = 0;
    if (convention == ema_convention::talib) {
      period = static_cast<std::size_t>(span);
      if (static_cast<T>(period) != span) {
        detail::throw_invalid_parameter("ema", "span must be an integer period for the talib convention",
                                        static_cast<long double>(span));
      }
    }
    return ema(alpha, convention, period);
  }
  // α = 1 − exp(−ln 2 / halflife), halflife > 0 (pandas `halflife` without `times`).
  [[nodiscard]] static ema from_halflife(T halflife,
                                         ema_convention convention = ema_convention::pandas_adjust_false) {
    return ema(detail::alpha_from_halflife("ema", halflife), convention);
  }
  // α = 1/(1 + com), com ≥ 0 (pandas `com`).
  [[nodiscard]] static constexpr ema from_com(
      T com, ema_convention convention = ema_convention::pandas_adjust_false) {
    return ema(detail::alpha_from_com("ema", com), convention);
  }

  constexpr void push(const T& x) noexcept {
    ++n_;
    if (convention_ == ema_convention::talib) {
      push_talib(x);
      return;
    }
    // pandas/_libs/window/aggregations.pyx, ewm(): `weighted` is the mean, `old_wt` the decayed
    // weight of the history relative to the new sample's weight (1 with adjust, α without).
    const bool observation = detail::is_finite(x);
    if (weighted_ == weighted_) {
      old_wt_ *= T(1) - alpha_;
      if (observation) {
        const T new_wt = convention_ == ema_convention::pandas_adjust_true ? T(1) : alpha_;
        if (weighted_ != x) {  // pandas' guard: keeps a constant series exactly constant
          weighted_ = (old_wt_ * weighted_ + new_wt * x) / (old_wt_ + new_wt);
        }
        old_wt_ = convention_ == ema_convention::pandas_adjust_true ? old_wt_ + new_wt : T(1);
      }
    } else if (observation) {
      weighted_ = x;
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
  // The moving average; NaN before the first observation (talib: before `period` samples).
  [[nodiscard]] constexpr T value() const noexcept { return weighted_; }
  [[nodiscard]] constexpr T alpha() const noexcept { return alpha_; }
  [[nodiscard]] constexpr ema_convention convention() const noexcept { return convention_; }
  // The TA-Lib period (talib convention only; 0 otherwise).
  [[nodiscard]] constexpr std::size_t period() const noexcept { return period_; }

  constexpr void reset() noexcept {
    n_ = 0;
    weighted_ = detail::quiet_nan<T>();
    old_wt_ = T(1);
    seed_.reset();
  }

 private:
  constexpr ema(T alpha, ema_convention convention, std::size_t period) noexcept
      : alpha_(alpha), convention_(convention), period_(period) {}

  // TA-Lib ta_EMA.c (TA_INT_EMA, default compatibility): the seed is the simple average of the first
  // `period` samples, output at index period − 1; afterwards prev = (x − prev)·k + prev.
  constexpr void push_talib(const T& x) noexcept {
    if (n_ < period_) {
      seed_.add(x);
    } else if (n_ == period_) {
      seed_.add(x);
      weighted_ = seed_.value() / static_cast<T>(period_);
    } else {
      weighted_ = (x - weighted_) * alpha_ + weighted_;
    }
  }

  T alpha_;
  ema_convention convention_;
  std::size_t period_;
  std::size_t n_ = 0;
  T weighted_ = detail::quiet_nan<T>();
  T old_wt_ = T(1);
  detail::neumaier_sum<T> seed_{};
};

}  // namespace streamstats
