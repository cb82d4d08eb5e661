# Installs the build tree into a fresh prefix (run by ctest as the packaging fixture).
file(REMOVE_RECURSE "${PREFIX}")
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}"
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed: ${rc}")
endif()
if(NOT EXISTS "${PREFIX}/include/streamstats/streamstats.hpp"
   OR NOT EXISTS "${PREFIX}/share/streamstats/streamstatsConfig.cmake")
  message(FATAL_ERROR "install is missing the umbrella header or the package config")
endif()
# The websocket component's program: installed to <prefix>/bin, runs from there, and checks the
# installed example config with its own parser.
if(EXPECT_STREAMSTATSD)
  set(exe "${PREFIX}/bin/streamstatsd")
  if(NOT EXISTS "${exe}")
    message(FATAL_ERROR "install is missing bin/streamstatsd")
  endif()
  execute_process(COMMAND "${exe}" --check-config
                          --config "${PREFIX}/share/doc/streamstats/streamstatsd/streamstatsd.toml"
                  RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "installed streamstatsd --check-config on the installed example failed (${rc}): ${err}")
  endif()
endif()
