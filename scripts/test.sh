#!/usr/bin/env bash
# test.sh: sets up a fresh Debian 12 machine, builds ripple and runs the whole test suite with ctest.
# The last lines are ctest's summary of what ran.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
bash "$root/scripts/build.sh"
cd "$root/build"
ctest --output-on-failure --timeout 900 "$@"
