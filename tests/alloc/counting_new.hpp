// Counts calls of the global operator new (replaced in counting_new.cpp) so that tests can prove
// that pushing never allocates.
#pragma once

#include <cstddef>

namespace streamstats_test {
std::size_t allocation_count() noexcept;

// Allocations made while `f` runs.
template <class F>
std::size_t allocations_during(F&& f) {
  const std::size_t before = allocation_count();
  f();
  return allocation_count() - before;
}
}  // namespace streamstats_test
