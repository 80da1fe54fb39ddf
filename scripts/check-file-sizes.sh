#!/usr/bin/env bash
# Fails when a Rust source file reaches 400 lines: split it by responsibility (issue #13).
set -euo pipefail
cd "$(dirname "$0")/.."
long=$(find src tests -name '*.rs' -print0 | xargs -0 wc -l | awk '$2 != "total" && $1 >= 400')
if [ -n "$long" ]; then
  echo "files of 400 lines or more:"; echo "$long"; exit 1
fi
