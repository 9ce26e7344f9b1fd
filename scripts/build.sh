#!/usr/bin/env bash
# build.sh: configures and builds ripple into build/ (binaries in build/bin).
# Warnings are errors when CI=true or RIPPLE_WERROR=ON.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
werror=${RIPPLE_WERROR:-OFF}
[ "${CI:-}" = "true" ] && werror=ON
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRIPPLE_WERROR="$werror" >/dev/null
cmake --build "$root/build" -j "$(nproc)"
