#!/usr/bin/env bash
# format.sh: formats every C++ source of the tree with clang-format and the repo's .clang-format (in place).
# Run from anywhere; `scripts/format.sh --check` only lists the files that are not formatted (exit 1 if any).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mapfile -t files < <(find dag rbridge kernel cli tests bench -type f \( -name '*.cpp' -o -name '*.hpp' \) | sort)
if [ "${1:-}" = "--check" ]; then
    unformatted=0
    for file in "${files[@]}"; do
        if ! clang-format --style=file "$file" | cmp -s - "$file"; then
            echo "$file"
            unformatted=1
        fi
    done
    exit "$unformatted"
fi
clang-format --style=file -i "${files[@]}"
