#!/usr/bin/env bash
# start.sh: sets up, builds, installs the ripple kernelspec and Notebook extension for this user and starts a
# Jupyter Notebook server on 127.0.0.1 with examples/ open. Stop it with Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
bash "$root/scripts/build.sh"
"$root/build/bin/ripple-kernel" install --user
# The classic Notebook extension that sends cell ids and order, so the engine acts there too (share/nbextension).
/usr/bin/python3 -m notebook.nbextensions install --user --overwrite "$root/share/nbextension/ripple" >/dev/null
/usr/bin/python3 -m notebook.nbextensions enable --user ripple/main >/dev/null
port=${RIPPLE_PORT:-8888}
# Notebook refuses to run as root without --allow-root; containers and cloud shells often are root.
root_args=()
if [ "$(id -u)" -eq 0 ]; then
  echo "Running as root: passing --allow-root to Jupyter Notebook"
  root_args=(--allow-root)
fi
echo "Starting Jupyter Notebook on http://127.0.0.1:$port (kernel: R (ripple))"
cd "$root/examples"
exec /usr/bin/python3 -m notebook --ip=127.0.0.1 --port="$port" --no-browser "${root_args[@]}" \
  --NotebookApp.notebook_dir="$root/examples" ${RIPPLE_NOTEBOOK_ARGS:-}
