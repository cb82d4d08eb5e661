#!/usr/bin/env bash
# streamstats against the servers people write today (Python asyncio websockets + NumPy, Node ws),
# same load client, same run; writes bench/peers/results.md.
#   bash bench/peers/run.sh [--ours "SERVER [ARGS...]"] [run_peers.py options...]
# Without --ours it builds and uses the release preset's ws_test_server (it prints "port N" and takes
# --port). Needs g++, /usr/bin/python3 with websockets and numpy, node, and tests/browser/node_modules
# (npm ci --prefix tests/browser) for ws.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
mkdir -p build/peers
g++ -std=c++17 -O2 -Wall -Wextra -o build/peers/load_client bench/peers/load_client.cpp
args=("$@")
if [[ " $* " != *" --ours "* ]]; then
  if [[ ! -x build/release/tests/websocket/ws_test_server ]]; then
    cmake --preset release >/dev/null
    cmake --build build/release --target ws_test_server -j2
  fi
  args+=(--ours "$root/build/release/tests/websocket/ws_test_server")
fi
exec /usr/bin/python3 bench/peers/run_peers.py --load-client build/peers/load_client "${args[@]}"
