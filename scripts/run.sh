#!/usr/bin/env bash
# Sets up everything (scripts/setup.sh), builds mbarl and runs the main job.
# Now: a demo node pair across the ROS 2 graph — the Rust talker (`mbarl example talker`, over
# RustDDS) and a stock rclpy listener (Fast DDS). Later: the full suite on the simulated arm.
#
#   scripts/run.sh [COUNT]     # stop after COUNT messages (default 30)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$MBARL_ROOT"
count="${1:-30}"

scripts/setup.sh
mbarl_log "building mbarl (release)"
cargo build --release --locked -p mbarl
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-0}"

"$CARGO_TARGET_DIR/release/mbarl" example talker --ros-args -p rate_hz:=10.0 &
talker=$!
trap 'kill $talker 2>/dev/null || true' EXIT
mbarl_log "Rust talker started (pid $talker); rclpy listener on /chatter for $count messages:"
"$MBARL_ROS_PYTHON" tests/ros_peer/peer.py sub /chatter std_msgs/String "$count"
mbarl_log "done: the rclpy node received $count messages from the Rust node"
