#!/usr/bin/env bash
# Runs a benchmark and prints its figures:
#   scripts/bench.sh transport     JointState round trips, image throughput (Rust, rclpy)
#   scripts/bench.sh alm           ALM updates/s, tch vs PyTorch Python
#   scripts/bench.sh bag-import    demo import throughput vs rosbags
#   scripts/bench.sh control-latency [--seconds 300]
#                                  frame→command latency, missed deadlines, learning running
#   scripts/bench.sh estop         e-stop to hold-command latency of the phase_arbiter (vs one control period)
#   scripts/bench.sh action-space  forward kinematics + clamping per control step, joint and end-effector
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$MBARL_ROOT"
which="${1:-transport}"; shift || true
case "$which" in
  alm)
    # The full ALM update, tch vs the same update in PyTorch Python (crates/mbarl-learn/benches/).
    scripts/setup.sh torch-bench
    exec cargo run --release --locked -p mbarl-learn --example bench_alm -- "$@" ;;
  action-space)
    # The arbiter's command rule per step (nodes/phase_arbiter/examples/bench_action_space.rs).
    exec cargo run --release --locked -p phase_arbiter --example bench_action_space -- "$@" ;;
  control-latency)
    # The whole suite (release), the sim in real time with 64x64 frames, demos recorded once.
    scripts/setup.sh
    cargo build --release --locked --workspace --bins
    export PATH="$CARGO_TARGET_DIR/release:$PATH"
    run_dir="$MBARL_ROOT/runs/bench_control_latency"
    if [ ! -d "$run_dir/demos/forward" ]; then
      sim/record_demos.sh --task reach --episodes 10 --run-dir "$run_dir" --domain 99 \
        --mbarl "$CARGO_TARGET_DIR/release/mbarl"
    fi
    exec "$CARGO_TARGET_DIR/release/mbarl" bench control-latency --run-dir "$run_dir" "$@" ;;
  *)
    scripts/setup.sh apt ros
    cargo build --release --locked -p mbarl
    if [ "$which" = estop ]; then cargo build --release --locked -p phase_arbiter; fi
    exec "$CARGO_TARGET_DIR/release/mbarl" bench "$which" "$@" ;;
esac
