#!/usr/bin/env bash
# Learning-curve experiments on the simulated arm (EARL protocol): MBARL, model-free MEDAL and a
# naive forward-only agent with the same seeds; results table, CSV and PNG in --out.
#   scripts/learn_curve.sh --task reach --obs state --agents mbarl,medal,naive --seeds 0,1,2
# All options: scripts/learn_curve.sh --help (scripts/learn_curve.py).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$MBARL_ROOT"
scripts/setup.sh
cargo build --release --locked --workspace --bins
exec "$MBARL_ROS_PYTHON" scripts/learn_curve.py "$@"
