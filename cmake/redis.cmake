# streamstats::redis — the scale-out part of the WebSocket adapter (docs/scale-out.md): a hiredis
# async client driven by the adapter's asio::io_context, the per-stream Redis log, leases and the
# owner loop. Header-only like the rest; it exists only when the adapter exists and hiredis is found
# through pkg-config (Debian libhiredis-dev, 0.14). Without hiredis the adapter configures and
# builds as before, with no Redis part.
set(STREAMSTATS_HAS_REDIS OFF)
if(STREAMSTATS_HAS_WEBSOCKET)
  if(NOT TARGET PkgConfig::STREAMSTATS_HIREDIS)
    find_package(PkgConfig QUIET)
    if(PKG_CONFIG_FOUND)
      pkg_check_modules(STREAMSTATS_HIREDIS QUIET IMPORTED_TARGET hiredis>=0.14)
    endif()
  endif()
  if(TARGET PkgConfig::STREAMSTATS_HIREDIS)
    add_library(streamstats_redis INTERFACE)
    add_library(streamstats::redis ALIAS streamstats_redis)
    set_property(TARGET streamstats_redis PROPERTY EXPORT_NAME redis)
    target_link_libraries(streamstats_redis INTERFACE streamstats::websocket PkgConfig::STREAMSTATS_HIREDIS)
    set(STREAMSTATS_HAS_REDIS ON)
  else()
    message(STATUS "streamstats: the Redis scale-out part is not built (missing: hiredis, Debian libhiredis-dev)")
  endif()
endif()
