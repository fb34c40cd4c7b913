#!/usr/bin/env bash
# Runs a benchmark and prints its figures:  scripts/bench.sh transport
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$MBARL_ROOT"
which="${1:-transport}"; shift || true
scripts/setup.sh apt ros
cargo build --release --locked -p mbarl
exec "$CARGO_TARGET_DIR/release/mbarl" bench "$which" "$@"
