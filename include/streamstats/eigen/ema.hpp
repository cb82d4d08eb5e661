// streamstats — Eigen layer: exponential moving average of fixed-size vectors, per component.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/eigen/traits.hpp>
#include <streamstats/ema.hpp>

#include <Eigen/Core>

#include <cstddef>
#include <stdexcept>

namespace streamstats {

// ema<Eigen::Matrix<T, D, 1>>: ema<T> applied to every component, with ema<T>'s constructors
// (alpha in (0, 1], from_span, from_halflife, from_com; invalid parameters throw
// std::invalid_argument) and its two pandas conventions, column by column as pandas'
// DataFrame.ewm(...).mean() does:
//   pandas_adjust_false (default)  seeded with the first sample, then m = (1 − α)·m + α·x
//   pandas_adjust_true             bias-corrected weights, Σ(1−α)^i x_{t−i} / Σ(1−α)^i
// Missing values per component, as pandas ewm(ignore_na=False): a NaN component is not an
// observation (that component's average is unchanged) but still decays its history's weight.
// The talib convention is refused (std::invalid_argument): TA-Lib has no vector form.
// value() is NaN in every component that has not seen an observation yet.
template <class Scalar, int Rows, int Cols, int Options, int MaxRows, int MaxCols>
class ema<Eigen::Matrix<Scalar, Rows, Cols, Options, MaxRows, MaxCols>> {
  friend struct detail::state_access;
  using V = Eigen::Matrix<Scalar, Rows, Cols, Options, MaxRows, MaxCols>;
  STREAMSTATS_REQUIRE_FIXED_VECTOR(V);
  using A = Eigen::Array<Scalar, Rows, 1>;

 public:
  using value_type = V;
  using scalar_type = Scalar;

  explicit ema(Scalar alpha, ema_convention convention = ema_convention::pandas_adjust_false)
      : alpha_(detail::checked_alpha("ema", alpha)), convention_(checked(convention)) {}

  [[nodiscard]] static ema from_span(Scalar span,
                                     ema_convention convention = ema_convention::pandas_adjust_false) {
    return ema(detail::alpha_from_span("ema", span), convention);
  }
  [[nodiscard]] static ema from_halflife(Scalar halflife,
                                         ema_convention convention = ema_convention::pandas_adjust_false) {
    return ema(detail::alpha_from_halflife("ema", halflife), convention);
  }
  [[nodiscard]] static ema from_com(Scalar com,
                                    ema_convention convention = ema_convention::pandas_adjust_false) {
    return ema(detail::alpha_from_com("ema", com), convention);
  }

  // The recurrence of pandas/_libs/window/aggregations.pyx ewm() per component, as in ema<T>:
  // `weighted` is the mean, `old_wt` the decayed weight of the history relative to the new sample's
  // weight (1 with adjust, α without).
  // A per-component loop rather than select() expressions: the branches (seeding, NaN, the
  // constant guard) are per component, and D is small.
  void push(const V& x) noexcept {
    ++n_;
    const bool adjust = convention_ == ema_convention::pandas_adjust_true;
    const Scalar new_wt = adjust ? Scalar(1) : alpha_;
    for (Eigen::Index i = 0; i < x.size(); ++i) {
      const Scalar xi = x(i);
      const bool observation = xi == xi;
      Scalar& weighted = weighted_(i);
      Scalar& old_wt = old_wt_(i);
      if (weighted == weighted) {
        old_wt *= Scalar(1) - alpha_;
        if (observation) {
          if (weighted != xi) {  // pandas' guard: keeps a constant series exactly constant
            weighted = (old_wt * weighted + new_wt * xi) / (old_wt + new_wt);
          }
          old_wt = adjust ? old_wt + new_wt : Scalar(1);
        }
      } else if (observation) {
        weighted = xi;
      }
    }
  }
  void operator()(const V& x) noexcept { push(x); }

  template <class It>
  void push(It first, It last) {
    for (; first != last; ++first) {
      push(*first);
    }
  }

  // Samples pushed (NaN components included) since construction or reset().
  [[nodiscard]] std::size_t count() const noexcept { return n_; }
  [[nodiscard]] V value() const noexcept { return weighted_.matrix(); }
  [[nodiscard]] Scalar alpha() const noexcept { return alpha_; }
  [[nodiscard]] ema_convention convention() const noexcept { return convention_; }

  void reset() noexcept {
    n_ = 0;
    weighted_ = eigen::detail::nan<A>();
    old_wt_ = A::Ones();
  }

 private:
  static ema_convention checked(ema_convention convention) {
    if (convention == ema_convention::talib) {
      throw std::invalid_argument(
          "streamstats::ema: the talib convention has no vector form; use pandas_adjust_false or "
          "pandas_adjust_true for Eigen vectors");
    }
    return convention;
  }

  Scalar alpha_;
  ema_convention convention_;
  std::size_t n_ = 0;
  A weighted_ = eigen::detail::nan<A>();
  A old_wt_ = A::Ones();
};

}  // namespace streamstats
