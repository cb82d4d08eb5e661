include(CMakePackageConfigHelpers)

set(streamstats_cmake_dir "${CMAKE_INSTALL_DATADIR}/streamstats" CACHE STRING
    "Where the CMake package files of streamstats are installed (relative to the prefix)")
mark_as_advanced(streamstats_cmake_dir)

# Headers: the core and the Eigen layer always (eigen.hpp needs Eigen only when included).
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        COMPONENT streamstats_Development)

# One export set per component, so the package config loads a component's targets only when its
# dependencies are found on the consumer's machine.
install(TARGETS streamstats_streamstats EXPORT streamstatsTargets)
install(EXPORT streamstatsTargets NAMESPACE streamstats:: DESTINATION "${streamstats_cmake_dir}"
        COMPONENT streamstats_Development)

if(TARGET streamstats_eigen)
  install(TARGETS streamstats_eigen EXPORT streamstatsEigenTargets)
  install(EXPORT streamstatsEigenTargets NAMESPACE streamstats:: DESTINATION "${streamstats_cmake_dir}"
          COMPONENT streamstats_Development)
endif()

if(COMMAND streamstats_install_websocket)
  streamstats_install_websocket()
endif()
if(COMMAND streamstats_install_redis)
  streamstats_install_redis()
endif()

# The server binary, its example config and systemd unit (the websocket component's program).
if(TARGET streamstatsd)
  install(TARGETS streamstatsd RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT streamstats_Runtime)
  install(FILES "${PROJECT_SOURCE_DIR}/packaging/streamstatsd.toml" "${PROJECT_SOURCE_DIR}/packaging/streamstatsd.service"
          DESTINATION "${CMAKE_INSTALL_DATADIR}/doc/streamstats/streamstatsd" COMPONENT streamstats_Runtime)
endif()

configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/streamstatsConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/streamstatsConfig.cmake"
  INSTALL_DESTINATION "${streamstats_cmake_dir}")
# Header-only: the package fits any architecture (ARCH_INDEPENDENT, CMake 3.14+).
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/streamstatsConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES "${PROJECT_BINARY_DIR}/streamstatsConfig.cmake"
              "${PROJECT_BINARY_DIR}/streamstatsConfigVersion.cmake"
        DESTINATION "${streamstats_cmake_dir}" COMPONENT streamstats_Development)

install(FILES "${PROJECT_SOURCE_DIR}/LICENSE" DESTINATION "${CMAKE_INSTALL_DATADIR}/doc/streamstats"
        COMPONENT streamstats_Development)
