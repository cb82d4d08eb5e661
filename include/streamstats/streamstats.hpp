// streamstats — umbrella header: every core accumulator (standard library only).
// The Eigen layer is <streamstats/eigen.hpp>; the WebSocket adapter is <streamstats/websocket/...>.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/version.hpp>

#include <streamstats/autocorrelation.hpp>
#include <streamstats/extrema.hpp>
#include <streamstats/mean.hpp>
#include <streamstats/moments.hpp>
#include <streamstats/multi.hpp>
#include <streamstats/variance.hpp>
#include <streamstats/zscore_detector.hpp>
