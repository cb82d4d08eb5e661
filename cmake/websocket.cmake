# streamstats::websocket — the WebSocket adapter (header-only, but its dependencies are not).
# It exists only when all of these are found:
#   websocketpp 0.8   Debian libwebsocketpp-dev  (CMake config, no version: its version file wants an
#                                                 exact match, so asking for "0.8" would fail on 0.8.2)
#   standalone Asio   Debian libasio-dev         (no CMake config: found by its header)
#   simdjson          Debian libsimdjson-dev     (the JSON parser; see docs/websocket.md for why simdjson)
#   Threads
# STREAMSTATS_REQUIRE_WEBSOCKET=ON (the strict presets) turns a missing one into an error.

set(STREAMSTATS_HAS_WEBSOCKET OFF)
set(_ss_ws_missing "")

if(NOT TARGET websocketpp::websocketpp)
  find_package(websocketpp CONFIG QUIET)
endif()
if(NOT TARGET websocketpp::websocketpp)
  list(APPEND _ss_ws_missing "websocketpp (libwebsocketpp-dev)")
endif()

find_path(STREAMSTATS_ASIO_INCLUDE_DIR asio.hpp DOC "Directory holding the standalone Asio header asio.hpp")
mark_as_advanced(STREAMSTATS_ASIO_INCLUDE_DIR)
if(NOT STREAMSTATS_ASIO_INCLUDE_DIR)
  list(APPEND _ss_ws_missing "standalone Asio (libasio-dev)")
endif()

if(NOT TARGET simdjson::simdjson)
  find_package(simdjson CONFIG QUIET)
endif()
if(NOT TARGET simdjson::simdjson)
  list(APPEND _ss_ws_missing "simdjson (libsimdjson-dev)")
endif()

find_package(Threads QUIET)
if(NOT TARGET Threads::Threads)
  list(APPEND _ss_ws_missing "Threads")
endif()

if(_ss_ws_missing STREQUAL "")
  add_library(streamstats_websocket INTERFACE)
  add_library(streamstats::websocket ALIAS streamstats_websocket)
  set_property(TARGET streamstats_websocket PROPERTY EXPORT_NAME websocket)
  target_include_directories(
    streamstats_websocket ${streamstats_warning_guard}
    INTERFACE "$<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/adapters/websocket/include>"
              "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>")
  # Asio's directory is a build-time path; the installed package finds it again on the consumer's
  # machine (streamstatsWebsocketDependencies.cmake) and passes it through the same variable.
  target_include_directories(streamstats_websocket SYSTEM
                             INTERFACE "$<BUILD_INTERFACE:${STREAMSTATS_ASIO_INCLUDE_DIR}>")
  target_compile_definitions(streamstats_websocket INTERFACE ASIO_STANDALONE)
  target_link_libraries(streamstats_websocket INTERFACE streamstats::streamstats websocketpp::websocketpp
                                                        simdjson::simdjson Threads::Threads)
  # websocketpp 0.8.2 does not compile as C++20 with g++ 12: C++17, and nothing newer is forced.
  target_compile_features(streamstats_websocket INTERFACE cxx_std_17)
  set(STREAMSTATS_HAS_WEBSOCKET ON)
elseif(STREAMSTATS_REQUIRE_WEBSOCKET)
  list(JOIN _ss_ws_missing ", " _ss_ws_missing_text)
  message(FATAL_ERROR "streamstats: STREAMSTATS_REQUIRE_WEBSOCKET=ON but missing: ${_ss_ws_missing_text} "
                      "(Debian: apt-get install libwebsocketpp-dev libasio-dev libsimdjson-dev)")
else()
  list(JOIN _ss_ws_missing ", " _ss_ws_missing_text)
  message(STATUS "streamstats: streamstats::websocket is not built (missing: ${_ss_ws_missing_text})")
endif()

# TLS and JWT (issue 13): tls.hpp needs OpenSSL (Debian libssl-dev), jwt.hpp libjwt 1.10+
# (libjwt-dev, found with pkg-config) and OpenSSL. streamstats::websocket_tls is the adapter plus
# both, with STREAMSTATS_WEBSOCKET_TLS=1; the plain adapter stays free of them.
set(STREAMSTATS_HAS_TLS OFF)
if(STREAMSTATS_HAS_WEBSOCKET)
  set(_ss_tls_missing "")
  find_package(OpenSSL 1.1.1 QUIET)
  if(NOT TARGET OpenSSL::SSL)
    list(APPEND _ss_tls_missing "OpenSSL (libssl-dev)")
  endif()
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND AND NOT TARGET PkgConfig::STREAMSTATS_LIBJWT)
    pkg_check_modules(STREAMSTATS_LIBJWT QUIET IMPORTED_TARGET libjwt>=1.10)
  endif()
  if(NOT TARGET PkgConfig::STREAMSTATS_LIBJWT)
    list(APPEND _ss_tls_missing "libjwt (libjwt-dev)")
  endif()
  if(_ss_tls_missing STREQUAL "")
    add_library(streamstats_websocket_tls INTERFACE)
    add_library(streamstats::websocket_tls ALIAS streamstats_websocket_tls)
    target_link_libraries(streamstats_websocket_tls INTERFACE streamstats::websocket OpenSSL::SSL OpenSSL::Crypto
                                                              PkgConfig::STREAMSTATS_LIBJWT)
    target_compile_definitions(streamstats_websocket_tls INTERFACE STREAMSTATS_WEBSOCKET_TLS=1)
    set(STREAMSTATS_HAS_TLS ON)
  else()
    list(JOIN _ss_tls_missing ", " _ss_tls_missing_text)
    message(STATUS "streamstats: TLS/JWT (tls.hpp, jwt.hpp) not available (missing: ${_ss_tls_missing_text})")
  endif()
endif()

# Called by cmake/install-rules.cmake: the adapter's headers, its export set, and the file that
# finds its dependencies again on the consumer's machine (included by streamstatsConfig.cmake for
# the websocket component; it sets _ss_websocket_deps_found and never fails the whole package).
function(streamstats_install_websocket)
  if(NOT TARGET streamstats_websocket)
    return()
  endif()
  install(DIRECTORY "${PROJECT_SOURCE_DIR}/adapters/websocket/include/"
          DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}" COMPONENT streamstats_Development)
  install(TARGETS streamstats_websocket EXPORT streamstatsWebsocketTargets)
  install(EXPORT streamstatsWebsocketTargets NAMESPACE streamstats::
          DESTINATION "${streamstats_cmake_dir}" COMPONENT streamstats_Development)
  set(deps_file "${PROJECT_BINARY_DIR}/streamstatsWebsocketDependencies.cmake")
  file(WRITE "${deps_file}" [=[
# Finds the dependencies of streamstats::websocket quietly; sets _ss_websocket_deps_found.
set(_ss_websocket_deps_found TRUE)
if(NOT TARGET websocketpp::websocketpp)
  find_package(websocketpp CONFIG QUIET)
endif()
if(NOT TARGET websocketpp::websocketpp)
  set(_ss_websocket_deps_found FALSE)
endif()
find_path(STREAMSTATS_ASIO_INCLUDE_DIR asio.hpp)
if(NOT STREAMSTATS_ASIO_INCLUDE_DIR)
  set(_ss_websocket_deps_found FALSE)
elseif(TARGET websocketpp::websocketpp)
  # The exported target knows Asio only by the ASIO_STANDALONE definition; add its directory here.
  set_property(TARGET websocketpp::websocketpp APPEND PROPERTY INTERFACE_INCLUDE_DIRECTORIES
               "${STREAMSTATS_ASIO_INCLUDE_DIR}")
endif()
if(NOT TARGET simdjson::simdjson)
  find_package(simdjson CONFIG QUIET)
endif()
if(NOT TARGET simdjson::simdjson)
  set(_ss_websocket_deps_found FALSE)
endif()
if(NOT TARGET Threads::Threads)
  find_package(Threads QUIET)
endif()
if(NOT TARGET Threads::Threads)
  set(_ss_websocket_deps_found FALSE)
endif()
]=])
  install(FILES "${deps_file}" DESTINATION "${streamstats_cmake_dir}" COMPONENT streamstats_Development)
endfunction()
