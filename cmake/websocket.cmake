# streamstats::websocket exists only when websocketpp 0.8 and standalone Asio are found.
# (Filled in by the adapter; until then the component is reported as unavailable.)
set(STREAMSTATS_HAS_WEBSOCKET OFF)
if(STREAMSTATS_REQUIRE_WEBSOCKET)
  message(FATAL_ERROR "streamstats: STREAMSTATS_REQUIRE_WEBSOCKET=ON but the adapter is not built yet")
endif()
