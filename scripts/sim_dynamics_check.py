"""Is the simulated arm's one-step dynamics Markov in (joint positions, velocities, action)?

A step starts from the last joint target (the arm lags its targets), which the observation does
not hold. This drives the MuJoCo `push` arm without the suite: a correlated random walk of the
targets, as the arbiter applies actions (target += action * max_step, clamped to the joint
limits), and fits the velocity and position changes by least squares on quadratic features of
(q, v, a), with and without the target's lead over the arm (target - q). It prints the
held-out error per joint relative to the change itself (1: no better than "nothing changes").

    $MBARL_ROS_PYTHON scripts/sim_dynamics_check.py [--steps 20000] [--max-step 0.06]
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sim"))
from mbarl_sim.env import SimEnv  # noqa: E402


def collect(steps: int, max_step: float, seed: int) -> np.ndarray:
    env = SimEnv(task="push", render=False, seed=seed)
    rng = np.random.default_rng(seed)
    rows = []
    target, a_prev = env.joint_positions(), np.zeros(4)
    for t in range(steps):
        if t % 200 == 0:
            env.reset("forward")
            target = env.joint_positions()
        q, v = env.joint_positions(), env.joint_velocities()
        a = np.clip(0.7 * a_prev + 0.5 * rng.standard_normal(4), -1, 1)
        new = np.clip(target + a * max_step, env.lower, env.upper)
        lag = target - q
        env.control_step(new)
        rows.append(np.concatenate([q, v, a, lag, env.joint_positions() - q, env.joint_velocities() - v]))
        target, a_prev = new, a
    env.close()
    return np.array(rows)


def held_out_ratio(features: np.ndarray, y: np.ndarray) -> np.ndarray:
    n = len(features)
    f = np.concatenate([features, np.ones((n, 1))], 1)
    f = np.concatenate([f, np.einsum("ni,nj->nij", f[:, :-1], f[:, :-1]).reshape(n, -1)], 1)
    cut = int(0.8 * n)
    w, *_ = np.linalg.lstsq(f[:cut], y[:cut], rcond=None)
    return np.abs(f[cut:] @ w - y[cut:]).mean(0) / np.abs(y[cut:]).mean(0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--max-step", type=float, default=0.06, help="rad per full-scale action (config/robots/sim_arm.yaml)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    x = collect(args.steps, args.max_step, args.seed)
    q, v, a, lag, dq, dv = (x[:, 4 * i:4 * i + 4] for i in range(6))
    for name, y in (("velocity change", dv), ("position change", dq)):
        without = held_out_ratio(np.concatenate([q, v, a], 1), y)
        with_lag = held_out_ratio(np.concatenate([q, v, a, lag], 1), y)
        print(f"{name}, error / change per joint: from (q, v, a) {np.round(without, 2)}, "
              f"with the target's lead {np.round(with_lag, 2)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
