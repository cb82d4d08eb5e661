#!/usr/bin/env bash
# The README's demo command: installs what it needs, builds the live dashboard (release preset) and
# runs it. Open the printed URL in a browser; Ctrl-C stops the server.
#   bash tools/demo.sh [--port 8080] [--bind 127.0.0.1] [--rate 100] [--day 60] [--duration S] ...
# (every argument goes to dashboard_server; --port 0 picks a free port).
set -euo pipefail
cd "$(dirname "$0")/.."

# The demo group has catch2 too: the release preset configures the tests as well.
bash tools/install-deps.sh demo
cmake --preset release >/dev/null
if ! cmake --build --preset release --target dashboard_server; then
  echo "demo: dashboard_server did not build; it needs the WebSocket adapter's dependencies" \
       "(libwebsocketpp-dev libasio-dev libsimdjson-dev: bash tools/install-deps.sh demo)" >&2
  exit 1
fi
echo "demo: streamstats live dashboard — open the URL below in a browser (Ctrl-C stops)"
exec ./build/release/examples/dashboard_server "$@"
