#!/usr/bin/env bash
# The README's demo command: installs what it needs, builds and runs the main demo.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/install-deps.sh demo
cmake --preset release >/dev/null
cmake --build --preset release --target quickstart
exec ./build/release/examples/quickstart "$@"
