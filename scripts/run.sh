#!/usr/bin/env bash
# Sets up everything (scripts/setup.sh), builds mbarl and runs the main job: the whole suite on
# the simulated arm (MuJoCo, task `reach`, state observations, lock-step), learning without
# resets from scripted-expert demonstrations, with a live status line (phase, cycle, success
# estimate, losses). Ctrl-C stops everything; the run directory keeps all data for a restart.
#
#   scripts/run.sh [LAUNCH_FILE]       # default config/launch/sim_reach_state.yaml
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$MBARL_ROOT"
launch="${1:-config/launch/sim_reach_state.yaml}"
run_dir="$MBARL_ROOT/runs/sim_reach_state"

scripts/setup.sh
mbarl_log "building mbarl (release)"
cargo build --release --locked --workspace --bins
export PATH="$CARGO_TARGET_DIR/release:$PATH"

if [ ! -d "$run_dir/demos/forward" ]; then
  mbarl_log "recording demonstrations with the scripted expert (once per run directory)"
  sim/record_demos.sh --task reach --episodes 10 --run-dir "$run_dir" --mbarl "$CARGO_TARGET_DIR/release/mbarl"
fi
mbarl_log "starting the suite: $launch (Ctrl-C stops it)"
exec "$CARGO_TARGET_DIR/release/mbarl" launch "$launch"
