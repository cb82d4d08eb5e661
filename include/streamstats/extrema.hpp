// streamstats — running minimum and maximum.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/detail/common.hpp>

#include <cstddef>

namespace streamstats {

// Smallest and largest sample seen.
// Below the minimum count: min() and max() are NaN when count() == 0.
// NaN input propagates: once a NaN is pushed, min() and max() are NaN until reset() (unlike
// std::min, whose result with NaN depends on the argument order). ±Inf are ordinary values.
// Mergeable exactly.
template <class T>
class extrema {
  STREAMSTATS_REQUIRE_SCALAR(T);
  friend struct detail::state_access;

 public:
  using value_type = T;

  constexpr extrema() noexcept = default;

  constexpr void push(const T& x) noexcept {
    ++n_;
    // x != x is the NaN test; a NaN already stored stays, since every comparison with it is false.
    min_ = (x < min_ || x != x) ? x : min_;
    max_ = (x > max_ || x != x) ? x : max_;
  }
  constexpr void operator()(const T& x) noexcept { push(x); }

  template <class It>
  constexpr void push(It first, It last) {
    for (; first != last; ++first) {
      push(static_cast<T>(*first));
    }
  }

  [[nodiscard]] constexpr std::size_t count() const noexcept { return n_; }
  // NaN when count() == 0.
  [[nodiscard]] constexpr T min() const noexcept { return n_ == 0 ? detail::quiet_nan<T>() : min_; }
  // NaN when count() == 0.
  [[nodiscard]] constexpr T max() const noexcept { return n_ == 0 ? detail::quiet_nan<T>() : max_; }
  // max() − min(); NaN when count() == 0.
  [[nodiscard]] constexpr T range() const noexcept { return max() - min(); }
  // The primary result is the range.
  [[nodiscard]] constexpr T value() const noexcept { return range(); }

  constexpr void reset() noexcept { *this = extrema{}; }

  constexpr void merge(const extrema& o) noexcept {
    if (o.n_ == 0) {
      return;
    }
    n_ += o.n_;
    min_ = (o.min_ < min_ || o.min_ != o.min_) ? o.min_ : min_;
    max_ = (o.max_ > max_ || o.max_ != o.max_) ? o.max_ : max_;
  }
  constexpr extrema& operator+=(const extrema& o) noexcept {
    merge(o);
    return *this;
  }

 private:
  std::size_t n_ = 0;
  T min_ = detail::infinity<T>();
  T max_ = -detail::infinity<T>();
};

}  // namespace streamstats
