// The allocation-free proof for one accumulator, shared by the alloc_*.cpp files.
#pragma once

#include <catch2/catch.hpp>

#include "counting_new.hpp"

#include <cstddef>
#include <type_traits>
#include <utility>
#include <vector>

namespace streamstats_test {

inline constexpr std::size_t alloc_test_samples = 1'000'000;

template <class A, class = void>
struct is_mergeable : std::false_type {};
template <class A>
struct is_mergeable<A, std::void_t<decltype(std::declval<A&>().merge(std::declval<const A&>())),
                                   decltype(std::declval<A&>() += std::declval<const A&>())>>
    : std::true_type {};

// Under the counter, each must allocate nothing: 10⁶ samples of A::value_type, half through push(x)
// and half through operator()(x); one contiguous batch push of 65536; and, for a mergeable A, 1000
// merge() and 1000 operator+= of a copy of itself.
template <class A>
void require_allocation_free(A& acc) {
  using T = typename A::value_type;
  const std::vector<T> batch(65536, T(1.25));  // built before the counter runs
  constexpr std::size_t half = alloc_test_samples / 2;
  const std::size_t pushed = allocations_during([&] {
    for (std::size_t i = 0; i < half; ++i) {
      acc.push(static_cast<T>(i % 1000) * T(0.5));
    }
  });
  const std::size_t called = allocations_during([&] {
    for (std::size_t i = 0; i < half; ++i) {
      acc(static_cast<T>(i % 1000) * T(0.5));
    }
  });
  const std::size_t batched = allocations_during([&] { acc.push(batch.begin(), batch.end()); });
  REQUIRE(acc.count() == alloc_test_samples + batch.size());
  CHECK(pushed == 0);
  CHECK(called == 0);
  CHECK(batched == 0);
  if constexpr (is_mergeable<A>::value) {
    const A part = acc;
    const std::size_t merged = allocations_during([&] {
      for (int k = 0; k < 1000; ++k) {
        acc.merge(part);
        acc += part;
      }
    });
    CHECK(acc.count() == part.count() * 2001);
    CHECK(merged == 0);
  }
}

}  // namespace streamstats_test
