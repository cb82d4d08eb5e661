#!/usr/bin/env bash
# Installs what streamstats needs on Debian 12 (run as root; uses sudo otherwise).
# Idempotent and quick when everything is present: apt-get runs only for missing packages.
#   tools/install-deps.sh [core|test|bench|demo|all]...
set -euo pipefail

core=(g++ cmake ninja-build)
test=(catch2 libtomlplusplus-dev clang-format clang-14 libclang-rt-14-dev libboost-dev libeigen3-dev chromium nodejs npm libwebsocketpp-dev libasio-dev libsimdjson-dev nlohmann-json3-dev python3-websockets)
bench=(libbenchmark-dev libboost-dev python3 libwebsocketpp-dev libasio-dev libsimdjson-dev)
demo=(catch2 libboost-dev libtomlplusplus-dev libeigen3-dev libwebsocketpp-dev libasio-dev libsimdjson-dev nlohmann-json3-dev)
# tests/clients (Python clients, NumPy reference values) and bench/peers (the Python and Node servers
# people write today; bench/peers/run.sh also needs `npm ci --prefix tests/browser` for ws).
test+=(python3-numpy)
# Redis scale-out (docs/scale-out.md): tests start a real redis-server; hiredis is the client.
test+=(redis-server libhiredis-dev pkg-config)
bench+=(python3-websockets python3-numpy nodejs)
# TLS and JWT (issue 13): OpenSSL and libjwt for tls.hpp/jwt.hpp and streamstatsd; the tests make
# their certificates with the openssl command and their tokens with PyJWT.
test+=(libssl-dev libjwt-dev openssl python3-jwt python3-cryptography)
demo+=(libssl-dev libjwt-dev pkg-config)  # pkg-config finds libjwt

want=()
for group in "${@:-test}"; do
  case "$group" in
    core) want+=("${core[@]}") ;;
    test) want+=("${core[@]}" "${test[@]}") ;;
    bench) want+=("${core[@]}" "${bench[@]}") ;;
    demo) want+=("${core[@]}" "${demo[@]}") ;;
    all) want+=("${core[@]}" "${test[@]}" "${bench[@]}" "${demo[@]}") ;;
    *) echo "install-deps: unknown group '$group' (core, test, bench, demo, all)" >&2; exit 2 ;;
  esac
done

missing=()
for pkg in "${want[@]}"; do
  # NodeSource's nodejs package ships npm itself and conflicts with Debian's npm package.
  if [ "$pkg" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all present (${#want[@]} packages)"
fi

# The browser and Node client tests (tests/browser) need their npm packages (playwright-core, ws),
# pinned by the committed package-lock.json. playwright-core stays at 1.61, the last release whose
# engines accept Debian 12's Node 18 (tests/browser/.npmrc sets engine-strict, so a lock that needs
# a newer Node fails npm ci at once); it drives Debian's /usr/bin/chromium, never a downloaded browser.
for group in "${@:-test}"; do
  if [ "$group" = test ] || [ "$group" = all ]; then
    browser_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
    # Re-installed whenever the lock file changed since the last `npm ci` (a stale node_modules
    # from an older lock would otherwise test other versions than the ones committed).
    stamp="$browser_dir/node_modules/.streamstats-lock"
    if [ -f "$browser_dir/package-lock.json" ] && ! cmp -s "$browser_dir/package-lock.json" "$stamp"; then
      echo "install-deps: npm ci --prefix tests/browser"
      npm ci --prefix "$browser_dir" --no-audit --no-fund
      cp "$browser_dir/package-lock.json" "$stamp"
    fi
    break
  fi
done
