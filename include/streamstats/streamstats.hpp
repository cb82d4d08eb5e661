// streamstats — umbrella header: every core accumulator (standard library only).
// The Eigen layer is <streamstats/eigen.hpp>; the WebSocket adapter is <streamstats/websocket/...>.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/version.hpp>

#include <streamstats/autocorrelation.hpp>
#include <streamstats/ddsketch.hpp>
#include <streamstats/ema.hpp>
#include <streamstats/ew_variance.hpp>
#include <streamstats/extrema.hpp>
#include <streamstats/mean.hpp>
#include <streamstats/moments.hpp>
#include <streamstats/multi.hpp>
#include <streamstats/quantile.hpp>
#include <streamstats/rolling_extrema.hpp>
#include <streamstats/rolling_variance.hpp>
#include <streamstats/score_rank.hpp>
#include <streamstats/sma.hpp>
#include <streamstats/state.hpp>
#include <streamstats/time_ema.hpp>
#include <streamstats/time_window.hpp>
#include <streamstats/variance.hpp>
#include <streamstats/weighted_mean.hpp>
#include <streamstats/weighted_variance.hpp>
#include <streamstats/zscore_detector.hpp>
