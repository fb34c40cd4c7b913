#!/usr/bin/env bash
# Sets up everything (scripts/setup.sh), builds mbarl and runs the main job: the whole suite on
# the simulated arm (MuJoCo, task `reach`, state observations, lock-step), learning without
# resets from scripted-expert demonstrations. Beside it, a second copy of the sim in its own ROS
# domain where `deployed_eval` deploys each new forward policy for 10 episodes (it never feeds
# training): the status line shows that deployed success, and
# runs/sim_reach_state/metrics/learning_curve.png is redrawn after every round.
# Ctrl-C stops everything; the run directory keeps all data for a restart.
#
#   scripts/run.sh [LAUNCH_FILE]       # default config/launch/sim_reach_state.yaml
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$MBARL_ROOT"
launch="${1:-config/launch/sim_reach_state.yaml}"
# The evaluation sim's ROS domain: the suite's own plus one.
eval_domain=$(( ${ROS_DOMAIN_ID:-0} + 1 ))

scripts/setup.sh
# The launch file's run directory, learn config and parameters files (robot profile, task):
# deployed_eval reads the same, so it deploys with the training's limits and workspace box.
read -r run_dir learn_config params_files < <("$MBARL_ROS_PYTHON" - "$launch" <<'PY'
import os, sys, yaml
launch = yaml.safe_load(open(sys.argv[1]))
root = os.environ["MBARL_ROOT"]
absolute = lambda p: p if os.path.isabs(p) else os.path.join(root, p)
print(absolute(os.path.expandvars(launch["run_dir"])),
      absolute(os.path.expandvars(launch["params"]["learn_config"])),
      ",".join(absolute(os.path.expandvars(f)) for f in launch.get("params_files", [])))
PY
)
params_args=()
IFS=, read -ra files <<<"$params_files"
for f in "${files[@]}"; do params_args+=(--params-file "$f"); done
mbarl_log "building mbarl (release)"
cargo build --release --locked --workspace --bins
bin="$CARGO_TARGET_DIR/release"
export PATH="$bin:$PATH"

if [ ! -d "$run_dir/demos/forward" ]; then
  mbarl_log "recording demonstrations with the scripted expert (once per run directory)"
  # with the task reward the launch file's learners train with, as learn_curve.sh records them
  sim/record_demos.sh --task reach --episodes 10 --run-dir "$run_dir" --mbarl "$bin/mbarl" \
    --reward-topic /sim/task_reward
fi
mkdir -p "$run_dir/logs"
mbarl_log "evaluation sim (ROS domain $eval_domain) and deployed_eval: logs in $run_dir/logs/"
ROS_DOMAIN_ID=$eval_domain PYTHONPATH="$MBARL_ROOT/sim" "$MBARL_ROS_PYTHON" -m mbarl_sim.bridge \
  --ros-args -p task:=reach -p lockstep:=true >"$run_dir/logs/eval_sim.log" 2>&1 &
eval_sim=$!
ROS_DOMAIN_ID=$eval_domain "$bin/deployed_eval" --ros-args \
  "${params_args[@]}" -p "learn_config:=$learn_config" \
  -p "run_dir:=$run_dir" -p episodes:=10 -p max_steps:=100 -p watch_period_s:=5.0 \
  >"$run_dir/logs/deployed_eval.out" 2>>"$run_dir/logs/deployed_eval.log" &
evaluator=$!
trap 'kill $evaluator $eval_sim 2>/dev/null; wait $evaluator $eval_sim 2>/dev/null || true' EXIT
# stopped by a service manager, `timeout` or a closed terminal: exit through the EXIT trap
# (`mbarl launch` stops the suite on the same signals)
trap 'exit 143' TERM
trap 'exit 129' HUP
mbarl_log "starting the suite: $launch (Ctrl-C stops it)"
"$bin/mbarl" launch "$launch"
