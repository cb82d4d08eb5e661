// streamstats — bookkeeping of the non-finite samples inside a moving window (not public API).
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/detail/common.hpp>

#include <cstddef>

namespace streamstats::detail {

// Counts of NaN, +Inf and −Inf samples currently in a window. The windows never add a non-finite
// sample to their running sums (it could not be subtracted again: inf − inf is NaN); they count it
// here instead, and their results follow IEEE only while it is in the window.
template <class T>
struct nonfinite_counts {
  std::size_t nan = 0;
  std::size_t pos_inf = 0;
  std::size_t neg_inf = 0;

  constexpr void enter(T x) noexcept { step(x, std::size_t{1}); }
  constexpr void leave(T x) noexcept { step(x, ~std::size_t{0}); }  // −1 (mod 2^64)

  [[nodiscard]] constexpr bool any() const noexcept { return (nan | pos_inf | neg_inf) != 0; }

  // The IEEE mean of a window holding these samples (only meaningful when any()): NaN with a NaN or
  // with both infinities, otherwise the infinity present.
  [[nodiscard]] constexpr T mean() const noexcept {
    if (nan > 0 || (pos_inf > 0 && neg_inf > 0)) {
      return quiet_nan<T>();
    }
    return pos_inf > 0 ? infinity<T>() : -infinity<T>();
  }

 private:
  // Direct increments of the member, not a reference chosen at run time: a pointer into the
  // enclosing accumulator makes its whole state escape, and GCC then keeps it in memory.
  constexpr void step(T x, std::size_t by) noexcept {
    if (x != x) {
      nan += by;
    } else if (x > T(0)) {
      pos_inf += by;
    } else {
      neg_inf += by;
    }
  }
};

}  // namespace streamstats::detail
