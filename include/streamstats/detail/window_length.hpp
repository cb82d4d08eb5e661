// streamstats — validation of a window length chosen at run time (not public API).
// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace streamstats::detail {

// The windows (sma, rolling_variance, rolling_extrema) keep their ring in a std::array of the
// compile-time capacity N and may use only its first `window` slots, so that a configuration file
// can choose the length without a template argument and without a heap. A length outside [1, N]
// cannot be honoured: throw, naming the parameter and the bounds, rather than clamp silently.
[[nodiscard]] inline std::size_t checked_window(std::size_t window, std::size_t capacity, const char* type) {
  if (window == 0 || window > capacity) {
    throw std::invalid_argument(std::string("streamstats::") + type + ": window must be in [1, " +
                                std::to_string(capacity) + "] (the compile-time capacity), got " +
                                std::to_string(window));
  }
  return window;
}

}  // namespace streamstats::detail
