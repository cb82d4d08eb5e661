// streamstats — shared building blocks of the accumulators (not part of the public API).
// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <iterator>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#if defined(__cpp_lib_concepts)
#include <concepts>
#endif

namespace streamstats::detail {

// Saving and loading of accumulator states (streamstats/state.hpp): every accumulator names it a
// friend, so the format code reads and restores private members without public setters.
struct state_access;

// The scalar types every core accumulator accepts. Integers are refused on purpose: a mean of
// ints that silently truncates, or a variance that overflows, is the bug users switch libraries over.
template <class T>
inline constexpr bool is_supported_scalar_v =
    std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, long double>;

#define STREAMSTATS_REQUIRE_SCALAR(T)                                                    \
  static_assert(::streamstats::detail::is_supported_scalar_v<T>,                         \
                "streamstats: T must be float, double or long double "                   \
                "(convert integer samples with static_cast<double>; Eigen vectors need " \
                "<streamstats/eigen.hpp>)")

template <class T>
[[nodiscard]] constexpr T quiet_nan() noexcept {
  return std::numeric_limits<T>::quiet_NaN();
}

template <class T>
[[nodiscard]] constexpr T infinity() noexcept {
  return std::numeric_limits<T>::infinity();
}

// constexpr replacements for <cmath> functions that are not constexpr in C++17.
// |x| without a branch: GCC -O2 may compile `x < 0 ? -x : x` to a compare-and-jump, which
// mispredicts on every other sample of data with random sign (rolling_variance's churn term:
// 16.6 → 7.0 ns per push once branch-free). GCC's and Clang's __builtin_fabs* are constexpr and
// compile to one AND of the sign bit; other compilers keep the portable select.
template <class T>
[[nodiscard]] constexpr T abs(T x) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  if constexpr (std::is_same_v<T, float>) {
    return __builtin_fabsf(x);
  } else if constexpr (std::is_same_v<T, double>) {
    return __builtin_fabs(x);
  } else if constexpr (std::is_same_v<T, long double>) {
    return __builtin_fabsl(x);
  } else {
    return x < T(0) ? -x : x;
  }
#else
  return x < T(0) ? -x : x;
#endif
}

// False for NaN and ±Inf (x - x is NaN for both), without <cmath> and usable in constexpr.
template <class T>
[[nodiscard]] constexpr bool is_finite(T x) noexcept {
  return x - x == T(0);
}

// Knuth's TwoSum: s + e == a + b exactly (round-to-nearest, no FMA contraction of these lines).
// Branch-free, so it vectorises; used by the batch (lane) paths.
template <class T>
struct two_sum_result {
  T sum;
  T err;
};

template <class T>
[[nodiscard]] constexpr two_sum_result<T> two_sum(T a, T b) noexcept {
  const T s = a + b;
  const T bb = s - a;
  const T err = (a - (s - bb)) + (b - bb);
  return {s, err};
}

// Neumaier's improved Kahan summation (Neumaier 1974). The error of the running sum is carried in
// `comp_` and only added back when the value is read, so the result is the correctly rounded sum for
// all practical inputs (error bound independent of n, unlike naive summation's n·eps).
// Breaks under -ffast-math (the compiler may prove comp_ == 0): do not build streamstats with it.
template <class T>
class neumaier_sum {
  friend struct state_access;

 public:
  constexpr void add(T x) noexcept {
    const T t = sum_ + x;
    if (abs(sum_) >= abs(x)) {
      comp_ += (sum_ - t) + x;
    } else {
      comp_ += (x - t) + sum_;
    }
    sum_ = t;
  }

  // Adds another compensated sum: its high part through the compensated path, its error term
  // directly (it is already small).
  constexpr void add(const neumaier_sum& other) noexcept {
    add(other.sum_);
    comp_ += other.comp_;
  }

  // sum + compensation; with an infinite or NaN sum the compensation is NaN (inf - inf), so the
  // IEEE result of the plain sum is returned instead.
  [[nodiscard]] constexpr T value() const noexcept { return is_finite(sum_) ? sum_ + comp_ : sum_; }

  constexpr void reset() noexcept {
    sum_ = T(0);
    comp_ = T(0);
  }

 private:
  T sum_{};
  T comp_{};
};

// --- contiguous iterators -------------------------------------------------------------------
// C++17 has no contiguous_iterator concept; the fast batch paths recognise raw pointers and the
// iterators of std::vector / std::array / std::basic_string, and anything satisfying
// std::contiguous_iterator when the library has concepts.
template <class It, class = void>
struct is_contiguous_iterator : std::is_pointer<It> {};

#if defined(__cpp_lib_concepts)
template <class It>
struct is_contiguous_iterator<It, std::enable_if_t<std::contiguous_iterator<It>>> : std::true_type {};
#else
template <class It>
struct is_contiguous_iterator<
    It,
    std::enable_if_t<
        !std::is_pointer_v<It> &&
        (std::is_same_v<It, typename std::vector<typename std::iterator_traits<It>::value_type>::iterator> ||
         std::is_same_v<
             It, typename std::vector<typename std::iterator_traits<It>::value_type>::const_iterator>)>>
    : std::true_type {};
#endif

template <class It>
inline constexpr bool is_contiguous_iterator_v = is_contiguous_iterator<It>::value;

// Pointer to the element an iterator refers to (only for contiguous iterators, and not at end).
template <class It>
[[nodiscard]] constexpr auto to_pointer(It it) noexcept {
  if constexpr (std::is_pointer_v<It>) {
    return it;
  } else {
    return &*it;
  }
}

// Calls `block(ptr, n)` on the contiguous range [first, last) when it is contiguous and of value
// type T, or `one(x)` on every element otherwise (converting each element to T).
template <class T, class It, class Block, class One>
constexpr void for_range(It first, It last, Block&& block, One&& one) {
  using value = std::remove_cv_t<typename std::iterator_traits<It>::value_type>;
  if constexpr (is_contiguous_iterator_v<It> && std::is_same_v<value, T>) {
    if (first != last) {
      const T* p = to_pointer(first);
      block(p, static_cast<std::size_t>(last - first));
    }
  } else {
    for (; first != last; ++first) {
      one(static_cast<T>(*first));
    }
  }
}

}  // namespace streamstats::detail
