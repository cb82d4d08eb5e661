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
