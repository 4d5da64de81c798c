#!/usr/bin/env bash
# Sets up the project and runs the eventsourcing library's performance tests for its
# recorders and ours, side by side (see docs/eventsourcing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python scripts/eventsourcing_benchmark.py "$@"
