#!/usr/bin/env bash
# start.sh: sets up, builds, installs the ripple kernelspec for this user and starts a Jupyter
# Notebook server on 127.0.0.1 with examples/ open. Stop it with Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
bash "$root/scripts/build.sh"
"$root/build/bin/ripple-kernel" install --user
port=${RIPPLE_PORT:-8888}
echo "Starting Jupyter Notebook on http://127.0.0.1:$port (kernel: R (ripple))"
cd "$root/examples"
exec /usr/bin/python3 -m notebook --ip=127.0.0.1 --port="$port" --no-browser \
  --NotebookApp.notebook_dir="$root/examples" ${RIPPLE_NOTEBOOK_ARGS:-}
