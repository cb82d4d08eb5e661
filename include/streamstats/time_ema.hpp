// streamstats — exponential moving average of irregularly timed samples.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/detail/common.hpp>
#include <streamstats/ema.hpp>

#include <chrono>
#include <cmath>
#include <cstddef>
#include <stdexcept>

namespace streamstats {

// Exponential moving average of samples that arrive at irregular times: the weight of the history
// decays by 0.5^(Δt / halflife) between two samples, whatever their spacing.
//
//   time_ema<double> e(std::chrono::milliseconds(2500));          // steady_clock, adjust=True
//   e.push(x, std::chrono::steady_clock::now());
//
// Clock is any std::chrono clock (its time_point and duration are used); the half-life is given in
// Clock::duration (coarser units convert implicitly). Δt / halflife is computed as
// T(Δt.count()) / T(halflife.count()), as pandas divides nanosecond counts.
//
// Conventions (ema_convention):
//   pandas_adjust_true  (default) pandas Series.ewm(halflife=h, times=t).mean() — the only mode pandas
//                       allows with times: m = Σ w_i x_i / Σ w_i, w_i = 0.5^((t − t_i)/h), in O(1)
//                       (the weight sum decays by 0.5^(Δt/h) and gains 1 per sample).
//   pandas_adjust_false the recursive irregular EMA m += (1 − 0.5^(Δt/h))·(x − m), seeded with the
//                       first sample (the usual form for unevenly spaced series, e.g. Eckner 2019,
//                       "Algorithms for unevenly spaced time series: moving averages and other rolling
//                       operators"). On a regular grid it equals ema<T> with α = 1 − 0.5^(Δt/h),
//                       adjust=False. A sample with Δt = 0 gets weight 0 in this form.
//   talib               refused (std::invalid_argument).
// halflife ≤ 0 throws std::invalid_argument.
//
// Time order: push(x, t) with t earlier than the previous accepted timestamp is rejected — it
// returns false, leaves the state unchanged and increments rejected(). Equal timestamps are accepted
// (Δt = 0: no decay).
// Missing values: a non-finite sample (NaN or ±Inf, which pandas turns into NaN) is no observation
// but its timestamp counts (the history decays up to it), as pandas ewm(times=..., ignore_na=False);
// value() keeps the previous average.
//
// Not mergeable: the result depends on the order of the samples.
template <class T, class Clock = std::chrono::steady_clock>
class time_ema {
  STREAMSTATS_REQUIRE_SCALAR(T);
  friend struct detail::state_access;

 public:
  using value_type = T;
  using clock = Clock;
  using duration = typename Clock::duration;
  using time_point = typename Clock::time_point;

  explicit time_ema(duration halflife, ema_convention convention = ema_convention::pandas_adjust_true)
      : halflife_(halflife), adjust_(convention == ema_convention::pandas_adjust_true) {
    if (!(halflife.count() > 0)) {
      detail::throw_invalid_parameter("time_ema", "halflife must be > 0 (in Clock::duration ticks)",
                                      static_cast<long double>(halflife.count()));
    }
    if (convention == ema_convention::talib) {
      throw std::invalid_argument(
          "streamstats::time_ema: the talib convention is not defined for irregular time; use "
          "pandas_adjust_true or pandas_adjust_false");
    }
  }

  // Returns false (and changes nothing but rejected()) when t is earlier than the previous accepted
  // timestamp.
  bool push(const T& x, time_point t) noexcept {
    if (n_ > 0 && t < last_t_) {
      ++rejected_;
      return false;
    }
    const bool observation = detail::is_finite(x);
    if (weighted_ == weighted_) {
      const T dt = static_cast<T>((t - last_t_).count()) / static_cast<T>(halflife_.count());
      const T decay = std::pow(T(0.5), dt);
      if (adjust_) {
        // pandas ewm(): old_wt *= old_wt_factor ** delta with old_wt_factor = 0.5 (com = 1 when only
        // times and halflife are given), new weight 1.
        old_wt_ *= decay;
        if (observation) {
          if (weighted_ != x) {
            weighted_ = (old_wt_ * weighted_ + x) / (old_wt_ + T(1));
          }
          old_wt_ += T(1);
        }
      } else if (observation) {
        weighted_ += (T(1) - decay) * (x - weighted_);
      }
    } else if (observation) {
      weighted_ = x;
    }
    last_t_ = t;
    ++n_;
    return true;
  }
  bool operator()(const T& x, time_point t) noexcept { return push(x, t); }

  // Accepted samples (NaN included) since construction or reset().
  [[nodiscard]] constexpr std::size_t count() const noexcept { return n_; }
  // Samples refused for an out-of-order timestamp.
  [[nodiscard]] constexpr std::size_t rejected() const noexcept { return rejected_; }
  // The moving average; NaN before the first observation.
  [[nodiscard]] constexpr T value() const noexcept { return weighted_; }
  [[nodiscard]] constexpr duration halflife() const noexcept { return halflife_; }
  [[nodiscard]] constexpr ema_convention convention() const noexcept {
    return adjust_ ? ema_convention::pandas_adjust_true : ema_convention::pandas_adjust_false;
  }
  // Timestamp of the last accepted sample (meaningless when count() == 0).
  [[nodiscard]] constexpr time_point last_time() const noexcept { return last_t_; }

  // Back to empty (rejected() too); half-life and convention kept.
  constexpr void reset() noexcept {
    n_ = 0;
    rejected_ = 0;
    weighted_ = detail::quiet_nan<T>();
    old_wt_ = T(1);
    last_t_ = time_point{};
  }

 private:
  duration halflife_;
  bool adjust_;
  std::size_t n_ = 0;
  std::size_t rejected_ = 0;
  T weighted_ = detail::quiet_nan<T>();
  T old_wt_ = T(1);
  time_point last_t_{};
};

}  // namespace streamstats
