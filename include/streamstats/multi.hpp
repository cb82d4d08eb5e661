// streamstats — several accumulators fed in one pass.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/detail/common.hpp>

#include <cstddef>
#include <iterator>
#include <tuple>
#include <type_traits>
#include <utility>

namespace streamstats {

namespace detail {

template <class A, class = void>
struct is_mergeable : std::false_type {};
template <class A>
struct is_mergeable<A, std::void_t<decltype(std::declval<A&>().merge(std::declval<const A&>()))>>
    : std::true_type {};

template <class X, class... Ts>
inline constexpr std::size_t count_of_v = (std::size_t{std::is_same_v<X, Ts>} + ... + 0);

template <class X, class... Ts>
constexpr std::size_t index_of() noexcept {
  constexpr bool matches[] = {std::is_same_v<X, Ts>...};
  for (std::size_t i = 0; i < sizeof...(Ts); ++i) {
    if (matches[i]) {
      return i;
    }
  }
  return sizeof...(Ts);
}

}  // namespace detail

// multi<A...>: every push goes to each accumulator A; one object, one pass over the data.
//   streamstats::multi<mean<double>, extrema<double>, variance<double>> m;
//   m.push(x);  m.get<extrema<double>>().max();  m.get<2>().stddev();
// All A must share one value_type. merge() exists when every A is mergeable.
// Batch push(first, last) on contiguous input hands each accumulator L1-sized blocks, so each
// uses its own fast path while the block is still in cache.
template <class... A>
class multi {
  friend struct detail::state_access;
  static_assert(sizeof...(A) > 0, "streamstats::multi needs at least one accumulator");
  using first_type = std::tuple_element_t<0, std::tuple<A...>>;

 public:
  using value_type = typename first_type::value_type;
  static_assert((std::is_same_v<typename A::value_type, value_type> && ...),
                "streamstats::multi: all accumulators must have the same value_type");

  constexpr multi() = default;
  constexpr explicit multi(A... accumulators) : acc_(std::move(accumulators)...) {}

  constexpr void push(const value_type& x) noexcept {
    std::apply([&x](auto&... a) { (a.push(x), ...); }, acc_);
  }
  constexpr void operator()(const value_type& x) noexcept { push(x); }

  template <class It>
  constexpr void push(It first, It last) {
    using cat = typename std::iterator_traits<It>::iterator_category;
    if constexpr (std::is_base_of_v<std::random_access_iterator_tag, cat>) {
      constexpr std::ptrdiff_t block = 2048;  // 16 KiB of doubles: stays in L1 across accumulators
      while (first != last) {
        const std::ptrdiff_t left = last - first;
        const It stop = first + (left < block ? left : block);
        std::apply([first, stop](auto&... a) { (a.push(first, stop), ...); }, acc_);
        first = stop;
      }
    } else {
      for (; first != last; ++first) {
        push(static_cast<value_type>(*first));
      }
    }
  }

  // The count of the first accumulator (they all see the same samples).
  [[nodiscard]] constexpr std::size_t count() const noexcept { return std::get<0>(acc_).count(); }

  // The value() of every accumulator, as a tuple.
  [[nodiscard]] constexpr auto value() const noexcept {
    return std::apply([](const auto&... a) { return std::make_tuple(a.value()...); }, acc_);
  }

  template <std::size_t I>
  [[nodiscard]] constexpr auto& get() noexcept {
    return std::get<I>(acc_);
  }
  template <std::size_t I>
  [[nodiscard]] constexpr const auto& get() const noexcept {
    return std::get<I>(acc_);
  }
  template <class X>
  [[nodiscard]] constexpr X& get() noexcept {
    static_assert(detail::count_of_v<X, A...> == 1,
                  "streamstats::multi::get<X>: X must appear exactly once (use get<I>() otherwise)");
    return std::get<detail::index_of<X, A...>()>(acc_);
  }
  template <class X>
  [[nodiscard]] constexpr const X& get() const noexcept {
    static_assert(detail::count_of_v<X, A...> == 1,
                  "streamstats::multi::get<X>: X must appear exactly once (use get<I>() otherwise)");
    return std::get<detail::index_of<X, A...>()>(acc_);
  }

  constexpr void reset() noexcept {
    std::apply([](auto&... a) { (a.reset(), ...); }, acc_);
  }

  template <bool B = (detail::is_mergeable<A>::value && ...), std::enable_if_t<B, int> = 0>
  constexpr void merge(const multi& other) noexcept {
    merge_impl(other, std::index_sequence_for<A...>{});
  }
  template <bool B = (detail::is_mergeable<A>::value && ...), std::enable_if_t<B, int> = 0>
  constexpr multi& operator+=(const multi& other) noexcept {
    merge(other);
    return *this;
  }

 private:
  template <std::size_t... I>
  constexpr void merge_impl(const multi& other, std::index_sequence<I...> /*unused*/) noexcept {
    (std::get<I>(acc_).merge(std::get<I>(other.acc_)), ...);
  }

  std::tuple<A...> acc_{};
};

}  // namespace streamstats
