#!/usr/bin/env bash
# Deploys a run's newest *backward* policy on an evaluation sim from the backward initial states
# (the task's goal region) and writes metrics/deployed_eval_backward[_sampled].csv:
#   scripts/backward_eval.sh --task push --run RUN_DIR [--domain 32] [--episodes 10]
#                            [--sampled-episodes 10] [--max-steps 200] [--state-topic /sim/task_state]
#                            [--reverse-start task|forward_end]
# Diagnoses a backward policy that does not undo the task in training: does it undo it from
# where the backward demonstrations start? Observations as learn_curve.sh trains them: with the
# task state (`--state-topic ''` for reach, which has none). Reads the run's checkpoints only;
# run it on a stopped run.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/scripts/env.sh"
task="" run="" domain=32 episodes=10 sampled=10 max_steps=200 state_topic=/sim/task_state
reverse_start=task
while [[ $# -gt 0 ]]; do
  case "$1" in
    --task) task="$2"; shift 2;;
    --run) run="$2"; shift 2;;
    --domain) domain="$2"; shift 2;;
    --episodes) episodes="$2"; shift 2;;
    --sampled-episodes) sampled="$2"; shift 2;;
    --max-steps) max_steps="$2"; shift 2;;
    --state-topic) state_topic="$2"; shift 2;;
    --reverse-start) reverse_start="$2"; shift 2;;
    *) echo "backward_eval.sh: unknown argument $1" >&2; exit 2;;
  esac
done
[[ -n "$task" && -d "$run" ]] || { echo "usage: $0 --task TASK --run RUN_DIR" >&2; exit 2; }
run="$(cd "$run" && pwd)"
mkdir -p "$run/logs"
export ROS_DOMAIN_ID="$domain" ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST MUJOCO_GL="${MUJOCO_GL:-egl}"
export PYTHONPATH="$ROOT/sim:${PYTHONPATH:-}"
# reverse_start forward_end: from where the forward expert leaves the scene (a reset-free
# robot's backward phases start there), not from the task's reverse initial states
"$MBARL_ROS_PYTHON" -m mbarl_sim.bridge --ros-args -p "task:=$task" -p lockstep:=true \
  -p "reverse_start:=$reverse_start" \
  >/dev/null 2>&1 &
bridge=$!
trap 'kill -INT $bridge 2>/dev/null; wait $bridge 2>/dev/null || true' EXIT
"$CARGO_TARGET_DIR/release/deployed_eval" --ros-args \
  --params-file "$ROOT/config/robots/sim_arm.yaml" \
  -p "learn_config:=$run/preset.yaml" -p "run_dir:=$run" -p role:=backward \
  -p reset_service:=/sim/reset_reverse -p success_topic:=/sim/reverse_success \
  ${state_topic:+-p "state_topic:=$state_topic"} -p "episodes:=$episodes" \
  -p "sampled_episodes:=$sampled" -p "max_steps:=$max_steps" -p watch_period_s:=0.0 \
  2>>"$run/logs/backward_eval.log"
