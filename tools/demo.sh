#!/usr/bin/env bash
# The README's demo command: installs what it needs, builds streamstatsd and the demo feeder
# (release preset) and runs them: streamstatsd with packaging/streamstatsd.toml (one pipeline per
# stream-name glob) serving the dashboard page, and the feeder pushing four synthetic streams into
# it over WebSocket. Open the printed URL in a browser; Ctrl-C stops both.
#   bash tools/demo.sh [streamstatsd flags, e.g. --port 0 --bind 127.0.0.1] [-- feeder flags, e.g. --rate 200 --day 30]
set -euo pipefail
cd "$(dirname "$0")/.."

# The demo group has catch2 too: the release preset configures the tests as well.
bash tools/install-deps.sh demo
cmake --preset release >/dev/null
if ! cmake --build --preset release --target streamstatsd feeder; then
  echo "demo: streamstatsd did not build; it needs the WebSocket adapter's dependencies and toml++" \
       "(libwebsocketpp-dev libasio-dev libsimdjson-dev libtomlplusplus-dev: bash tools/install-deps.sh demo)" >&2
  exit 1
fi

daemon_args=()
feeder_args=()
while (($#)); do
  if [ "$1" = "--" ]; then shift; feeder_args=("$@"); break; fi
  daemon_args+=("$1"); shift
done

out="$(mktemp)"
cleanup() {
  [ -n "${feeder_pid:-}" ] && kill "$feeder_pid" 2>/dev/null || true
  [ -n "${daemon_pid:-}" ] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
  rm -f "$out"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

./build/release/apps/streamstatsd/streamstatsd --config packaging/streamstatsd.toml \
  --document-root examples/dashboard/web "${daemon_args[@]}" >"$out" &
daemon_pid=$!
# The first stdout line is "listening on http://ADDR:PORT/".
for _ in $(seq 100); do
  grep -q '^listening on ' "$out" && break
  kill -0 "$daemon_pid" 2>/dev/null || { echo "demo: streamstatsd did not start" >&2; exit 1; }
  sleep 0.1
done
url="$(sed -n 's/^listening on \(http:\/\/[^ ]*\)$/\1/p' "$out" | head -1)"
[ -n "$url" ] || { echo "demo: streamstatsd did not report its port" >&2; exit 1; }
echo "demo: streamstatsd live dashboard — open $url in a browser (Ctrl-C stops)"
./build/release/examples/feeder --url "ws://${url#http://}ws" "${feeder_args[@]}" &
feeder_pid=$!
wait "$daemon_pid"
