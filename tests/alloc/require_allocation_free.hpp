// The allocation-free proof for one accumulator, shared by the alloc_*.cpp files.
#pragma once

#include <catch2/catch.hpp>

#include "counting_new.hpp"

#include <cstddef>
#include <vector>

namespace streamstats_test {

inline constexpr std::size_t alloc_test_samples = 1'000'000;

// 10⁶ scalar pushes and one contiguous batch push, each under the counter: both must allocate nothing.
template <class A>
void require_allocation_free(A& acc, const std::vector<double>& batch) {
  const std::size_t scalar = allocations_during([&] {
    for (std::size_t i = 0; i < alloc_test_samples; ++i) {
      acc.push(static_cast<double>(i % 1000) * 0.5);
    }
  });
  const std::size_t batched = allocations_during([&] { acc.push(batch.begin(), batch.end()); });
  REQUIRE(acc.count() == alloc_test_samples + batch.size());
  CHECK(scalar == 0);
  CHECK(batched == 0);
}

}  // namespace streamstats_test
