#!/usr/bin/env bash
# Sets up the project and runs the main job: the demo on the embedded SQLite default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# --serve ends with the web console open on the demo database; --no-serve stops after the tour.
.venv/bin/safe-eventstore demo --serve "$@"
