include(GNUInstallDirs)

option(STREAMSTATS_BUILD_TESTS "Build the streamstats tests" "${PROJECT_IS_TOP_LEVEL}")
option(STREAMSTATS_BUILD_EXAMPLES "Build the streamstats examples" "${PROJECT_IS_TOP_LEVEL}")
option(STREAMSTATS_INSTALL "Generate the install rules" "${PROJECT_IS_TOP_LEVEL}")
option(STREAMSTATS_BUILD_STREAMSTATSD "Build the streamstatsd server (needs the WebSocket adapter and toml++)"
       "${PROJECT_IS_TOP_LEVEL}")
option(STREAMSTATS_BUILD_FUZZERS "Build the libFuzzer targets of tests/fuzz (clang only; the fuzz preset)" OFF)
option(STREAMSTATS_BUILD_BENCH "Build the benchmarks (Google Benchmark, Boost.Accumulators)" OFF)
option(STREAMSTATS_REQUIRE_EIGEN "Fail when Eigen 3.4 is missing instead of skipping streamstats::eigen" OFF)
option(STREAMSTATS_REQUIRE_WEBSOCKET
       "Fail when websocketpp/Asio are missing instead of skipping streamstats::websocket" OFF)

# Consumers see our headers as SYSTEM headers, so their warning flags never fire inside streamstats
# (the cmake-init "warning guard"). The project's own tests see them as normal headers.
set(streamstats_warning_guard "")
if(NOT PROJECT_IS_TOP_LEVEL)
  option(STREAMSTATS_INCLUDES_WITH_SYSTEM "Use SYSTEM modifier for streamstats' includes" ON)
  mark_as_advanced(STREAMSTATS_INCLUDES_WITH_SYSTEM)
  if(STREAMSTATS_INCLUDES_WITH_SYSTEM)
    set(streamstats_warning_guard SYSTEM)
  endif()
endif()
