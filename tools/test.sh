#!/usr/bin/env bash
# The README's test command: installs what the tests need, then configures, builds and runs every
# test twice — the dev preset (Debug, strict warnings as errors) and the asan preset
# (AddressSanitizer + UndefinedBehaviorSanitizer) — then the core and Eigen tests with clang++-14
# (the clang preset: same warnings; catches what g++ lets pass, e.g. unspecified evaluation order),
# and every libFuzzer target of tests/fuzz for a short fixed time on its seed corpus (fuzz preset).
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/install-deps.sh test

# Formatting is part of the build: every C++ file must be as .clang-format (clang-format 14) says.
echo "=== streamstats: clang-format check ==="
find include adapters apps examples tests bench -path '*/node_modules' -prune -o \( -name '*.hpp' -o -name '*.cpp' \) -print0 |
  xargs -0 -r clang-format --dry-run --Werror

for preset in dev asan clang fuzz; do
  echo "=== streamstats: cmake --workflow --preset $preset ==="
  cmake --workflow --preset "$preset"
  if [ "$preset" = dev ]; then
    # ctest keeps passing tests' output in its log only; print the measured figures here too.
    echo "=== streamstats: figures measured by the tests (NIST StRD LRE, P² accuracy, detector test bed) ==="
    build/dev/tests/test_nist_strd
    build/dev/tests/test_quantile "*P2 accuracy*"
    build/dev/tests/test_detector_bed
  fi
done
echo "=== streamstats: all tests passed (dev, asan, clang, fuzz) ==="
