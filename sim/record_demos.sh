#!/usr/bin/env bash
# Records scripted-expert demonstrations in the MuJoCo sim with `mbarl record` and imports them
# with `mbarl demo import`: the demo datasets (D_f, D_b) the nodes train from.
#
#   sim/record_demos.sh [--task push|reach|door|franka_reach|…] [--episodes 10] [--run-dir run] [--bags DIR]
#                       [--roles forward,backward] [--domain 57] [--mbarl PATH]
#                       [--state-topic /sim/task_state] [--reward-topic /sim/task_reward]
#                       [--backward-reward-topic /sim/reverse_reward]
#                       [--bridge-param NAME:=VALUE ...] [--tail-steps N]
#
# For each role it starts the bridge in lock-step mode (64x64 camera), `mbarl record` on the
# robot topics plus the sim's task state and reset counter (episode markers), runs the expert
# (`--direction forward` for the forward role, `reverse` for backward) for N episodes, stops the
# recorder with Ctrl-C (SIGINT), and imports the bag into <run-dir>/demos/<role>/<task>/.
# Bags are kept in --bags (default <run-dir>/bags). Exits non-zero if a step fails or the
# expert solved fewer than 95% of its episodes. --state-topic records a low-dimensional state
# topic too and imports it as the observations' `state` (fully observed state experiments:
# the nodes then read the same topic, camera_encoder's `state_topic`). --reward-topic records the
# task reward the learners train with (the arbiter's `task_reward_topic`) and imports it into
# the transitions, as EARL's demonstrations carry their rewards; --backward-reward-topic records
# and imports another one for the backward role (the reverse task's reward). --bridge-param (repeatable) sets a
# bridge parameter for the recording, e.g. `init_radius:=0.08`: demonstrations from more varied
# object positions than the sim's default resets. --tail-steps N goes on N steps after the task
# held (the expert stays at the goal, as a demonstrator waits before stopping the recording).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/env.sh"

TASK=push EPISODES=10 RUN_DIR=run BAGS="" ROLES=forward,backward DOMAIN=${ROS_DOMAIN_ID:-57} MBARL="" STATE_TOPIC="" REWARD_TOPIC=""
BACKWARD_REWARD_TOPIC="" TAIL_STEPS=0
BRIDGE_PARAMS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --task) TASK=$2; shift 2 ;;
    --episodes) EPISODES=$2; shift 2 ;;
    --run-dir) RUN_DIR=$2; shift 2 ;;
    --bags) BAGS=$2; shift 2 ;;
    --roles) ROLES=$2; shift 2 ;;
    --domain) DOMAIN=$2; shift 2 ;;
    --mbarl) MBARL=$2; shift 2 ;;
    --state-topic) STATE_TOPIC=$2; shift 2 ;;
    --reward-topic) REWARD_TOPIC=$2; shift 2 ;;
    --backward-reward-topic) BACKWARD_REWARD_TOPIC=$2; shift 2 ;;
    --tail-steps) TAIL_STEPS=$2; shift 2 ;;
    --bridge-param)
      [[ "$2" == *:=* ]] || { echo "--bridge-param wants NAME:=VALUE, not $2" >&2; exit 2; }
      BRIDGE_PARAMS+=(-p "$2"); shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
BAGS=${BAGS:-$RUN_DIR/bags}
if [ -z "$MBARL" ]; then
  MBARL="$CARGO_TARGET_DIR/release/mbarl"
  if [ ! -x "$MBARL" ]; then
    (cd "$ROOT" && cargo build --release -p mbarl) >&2
  fi
fi
export ROS_DOMAIN_ID=$DOMAIN ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST PYTHONPATH="$ROOT/sim${PYTHONPATH:+:$PYTHONPATH}"
PY="$MBARL_ROS_PYTHON"
mkdir -p "$BAGS"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# Robot topics (what the nodes see) + the sim's reset counter (an episode marker only; the sim's
# ground-truth task state is recorded only with --state-topic, as an observation).
TOPICS=(
  /camera/image_raw:sensor_msgs/msg/Image
  /camera/camera_info:sensor_msgs/msg/CameraInfo
  /joint_states:sensor_msgs/msg/JointState
  /sim/reset_count:std_msgs/msg/UInt64
)
# The robot: the 4-joint arm (joint position commands), or the simulated Panda for franka_*
# tasks (end-effector pose targets and the gripper's width).
if [[ "$TASK" == franka_* ]]; then
  BRIDGE=(-m mbarl_sim.franka_bridge --ros-args -p task:="$TASK")
  EXPERT=(-m mbarl_sim.franka_expert)
  PROFILE="$ROOT/config/robots/sim_franka.yaml"
  TOPICS+=(/cartesian_controller/target_pose:geometry_msgs/msg/PoseStamped
           /gripper_controller/commands:std_msgs/msg/Float64MultiArray)
else
  BRIDGE=(-m mbarl_sim.bridge --ros-args -p task:="$TASK")
  EXPERT=(-m mbarl_sim.expert --task "$TASK")
  PROFILE="$ROOT/config/robots/sim_arm.yaml"
  TOPICS+=(/arm_controller/commands:std_msgs/msg/Float64MultiArray)
fi
if [ -n "$STATE_TOPIC" ]; then TOPICS+=("$STATE_TOPIC:std_msgs/msg/Float64MultiArray"); fi

IFS=, read -r -a roles <<<"$ROLES"
for role in "${roles[@]}"; do
  case "$role" in
    forward) direction=forward ;;
    backward) direction=reverse ;;
    *) echo "role must be forward or backward, not $role" >&2; exit 2 ;;
  esac
  # the reward this role's transitions carry
  reward_topic=$REWARD_TOPIC
  if [ "$role" = backward ] && [ -n "$BACKWARD_REWARD_TOPIC" ]; then reward_topic=$BACKWARD_REWARD_TOPIC; fi
  role_topics=("${TOPICS[@]}")
  if [ -n "$reward_topic" ]; then role_topics+=("$reward_topic:std_msgs/msg/Float64"); fi
  bag="$BAGS/${TASK}_${role}"
  rm -rf "$bag"
  mbarl_log "$role: bridge ($TASK, lock-step), recorder → $bag, expert ($direction, $EPISODES episodes)"
  "$PY" "${BRIDGE[@]}" -p lockstep:=true \
      -p image_width:=64 -p image_height:=64 "${BRIDGE_PARAMS[@]}" >"$BAGS/${TASK}_${role}.bridge.log" 2>&1 &
  bridge=$!; pids+=("$bridge")
  "$MBARL" record "${role_topics[@]}" -o "$bag" --progress-lines 2>"$BAGS/${TASK}_${role}.record.log" &
  recorder=$!; pids+=("$recorder")
  # Let the recorder's subscriptions match the bridge before the first reset.
  sleep 3
  status=0
  "$PY" "${EXPERT[@]}" --direction "$direction" --episodes "$EPISODES" --lockstep \
      --tail-steps "$TAIL_STEPS" || status=$?
  sleep 0.5
  kill -INT "$recorder"; wait "$recorder" || { echo "mbarl record failed, see $BAGS/${TASK}_${role}.record.log" >&2; exit 1; }
  kill -INT "$bridge" 2>/dev/null || true; wait "$bridge" 2>/dev/null || true
  tail -n 2 "$BAGS/${TASK}_${role}.record.log" >&2
  if [ "$status" -ne 0 ]; then
    echo "the $direction expert solved fewer than 95% of its episodes (exit $status)" >&2
    exit "$status"
  fi
  "$MBARL" demo import "$bag" --role "$role" --run-dir "$RUN_DIR" --name "$TASK" --force \
      --profile "$PROFILE" --no-progress --state-topic "$STATE_TOPIC" \
      --reward-topic "$reward_topic"
  "$MBARL" demo inspect "$RUN_DIR/demos/$role/$TASK" --frames 16 | tail -n 4
done
mbarl_log "demo datasets: $(ls -d "$RUN_DIR"/demos/*/"$TASK" | tr '\n' ' ')"
