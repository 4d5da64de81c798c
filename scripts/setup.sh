#!/usr/bin/env bash
# Creates .venv (python3 >= 3.11 and pip are all that is assumed) and installs the project
# with the pinned development dependencies and the web console's extra.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev,web]'
