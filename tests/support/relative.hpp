// Relative comparison helpers shared by the tests.
#pragma once

#include <algorithm>
#include <cmath>

namespace streamstats_test {

// |a − b| ≤ tol · max(|a|, |b|), or both exactly zero, or both NaN.
inline bool close_rel(double a, double b, double tol) {
  if (std::isnan(a) || std::isnan(b)) {
    return std::isnan(a) && std::isnan(b);
  }
  if (a == b) {
    return true;
  }
  return std::fabs(a - b) <= tol * std::max(std::fabs(a), std::fabs(b));
}

}  // namespace streamstats_test
