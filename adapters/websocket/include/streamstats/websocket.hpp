// streamstats::websocket — the WebSocket adapter (link streamstats::websocket).
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/websocket/json_writer.hpp>
#include <streamstats/websocket/pipeline.hpp>
#include <streamstats/websocket/protocol.hpp>
#include <streamstats/websocket/server.hpp>
