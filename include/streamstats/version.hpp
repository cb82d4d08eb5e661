// streamstats — version (CMake's project() reads it from here; keep the three numbers on their own lines).
// SPDX-License-Identifier: MIT
#pragma once

#define STREAMSTATS_VERSION_MAJOR 0
#define STREAMSTATS_VERSION_MINOR 1
#define STREAMSTATS_VERSION_PATCH 0
#define STREAMSTATS_VERSION \
  (STREAMSTATS_VERSION_MAJOR * 10000 + STREAMSTATS_VERSION_MINOR * 100 + STREAMSTATS_VERSION_PATCH)
