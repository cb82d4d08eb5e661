#!/usr/bin/env bash
# The README's test command: installs what the tests need, then configures, builds and runs every
# test twice — the dev preset (Debug, strict warnings as errors) and the asan preset
# (AddressSanitizer + UndefinedBehaviorSanitizer).
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/install-deps.sh test

for preset in dev asan; do
  echo "=== streamstats: cmake --workflow --preset $preset ==="
  cmake --workflow --preset "$preset"
done
echo "=== streamstats: all tests passed (dev, asan) ==="
