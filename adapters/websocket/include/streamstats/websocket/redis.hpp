// streamstats::websocket::redis — scale-out over Redis (docs/scale-out.md).
// SPDX-License-Identifier: MIT
//
// Needs hiredis (Debian libhiredis-dev; CMake target streamstats::redis). The parts:
//   redis/asio_hiredis.hpp  hiredis' async context on an asio::io_context (no thread of its own)
//   redis/connection.hpp    reconnect with backoff, command timeouts, "unavailable" instead of waiting
//   redis/stream_log.hpp    keys, Lua scripts, ingest of binary batches into a stream's log
//   redis/lease.hpp         one owner per stream (SET NX PX, renewed, fenced writes)
//   redis/owner.hpp         applies the log in order to an accumulator, stores state + id atomically
#pragma once

#include <streamstats/websocket/redis/asio_hiredis.hpp>
#include <streamstats/websocket/redis/broker.hpp>
#include <streamstats/websocket/redis/connection.hpp>
#include <streamstats/websocket/redis/lease.hpp>
#include <streamstats/websocket/redis/owner.hpp>
#include <streamstats/websocket/redis/stream_log.hpp>
