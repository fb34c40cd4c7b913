"""How well can the arm's one-step change be learned, and from how much data? (docs/notes/2026-12-07-results-history.md,
"Session 20")

Fits a plain MLP (2 x 128 ReLU, Adam, squared error on standardised inputs and outputs) to the
one-step change s' - s of the arm's joint positions and velocities, and prints the held-out
error per joint against the change itself (1: no better than "nothing changes"), as
`LatentModel::error_ratio` measures the suite's model. Two sources:

  # the MuJoCo push arm driven by a random walk of its targets (scripts/sim_dynamics_check.py),
  # with and without the target's lead over the arm, for several training-set sizes
  $MBARL_ROS_PYTHON scripts/dynamics_fit.py sim --rows 4000,16000,32000

  # a stopped run's replay (nodes/policy/examples/replay_dump.rs writes the CSV); split by
  # whether the request would take the paddle out of the workspace box (the arbiter refuses
  # such steps joint by joint, but the replay records the request)
  cargo run --release -p policy --example replay_dump -- RUN forward /tmp/fwd.csv
  $MBARL_ROS_PYTHON scripts/dynamics_fit.py replay /tmp/fwd.csv --state-dim 15 --q-offset 7

The arm is the sim arm (4 joints, 4 actions: config/robots/sim_arm.yaml).
--q-offset: where the joint positions start in the encoder's state (the task state comes first:
7 on door, 11 on push); the velocities follow them.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sim"))
from sim_dynamics_check import collect  # noqa: E402
from mbarl_sim import arm  # noqa: E402

# config/robots/sim_arm.yaml
MAX_STEP = 0.06
WORKSPACE_MIN, WORKSPACE_MAX = np.array([0.03, -0.60, 0.0]), np.array([0.75, 0.60, 0.70])


def mlp_ratio(x: np.ndarray, y: np.ndarray, steps: int, seed: int = 0) -> np.ndarray:
    """Trains on the first 80 % of rows, returns mean |error| / mean |y| per output column on
    the rest."""
    rng = np.random.default_rng(seed)
    cut = int(0.8 * len(x))
    mx, sx = x[:cut].mean(0), x[:cut].std(0) + 1e-8
    my, sy = y[:cut].mean(0), y[:cut].std(0) + 1e-8
    xs, ys = (x - mx) / sx, (y - my) / sy
    sizes = [xs.shape[1], 128, 128, ys.shape[1]]
    weights = [rng.standard_normal((a, b)) * np.sqrt(2 / a) for a, b in zip(sizes, sizes[1:])]
    biases = [np.zeros(b) for b in sizes[1:]]
    params = weights + biases
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]

    def forward(xb):
        hs = [xb]
        for i, (w, b) in enumerate(zip(weights, biases)):
            h = hs[-1] @ w + b
            hs.append(np.maximum(h, 0) if i < len(weights) - 1 else h)
        return hs

    for t in range(1, steps + 1):
        idx = rng.integers(0, cut, 256)
        hs = forward(xs[idx])
        g = 2 * (hs[-1] - ys[idx]) / len(idx)
        gw, gb = [None] * len(weights), [None] * len(weights)
        for i in reversed(range(len(weights))):
            gw[i], gb[i] = hs[i].T @ g, g.sum(0)
            if i > 0:
                g = (g @ weights[i].T) * (hs[i] > 0)
        for j, (p, gr) in enumerate(zip(params, gw + gb)):
            m1[j] = 0.9 * m1[j] + 0.1 * gr
            m2[j] = 0.999 * m2[j] + 0.001 * gr * gr
            p -= 1e-3 * (m1[j] / (1 - 0.9 ** t)) / (np.sqrt(m2[j] / (1 - 0.999 ** t)) + 1e-8)
    pred = forward(xs[cut:])[-1] * sy + my
    return np.abs(pred - y[cut:]).mean(0) / np.abs(y[cut:]).mean(0)


def show(name: str, ratio: np.ndarray) -> None:
    print(f"  {name}: positions {np.round(ratio[:4], 2)}, velocities {np.round(ratio[4:], 2)}, "
          f"mean {ratio.mean():.3f}", flush=True)


def from_sim(args) -> None:
    sizes = [int(r) for r in args.rows.split(",")]
    x = collect(int(max(sizes) / 0.8), MAX_STEP, args.seed)
    q, v, a, lead, dq, dv = (x[:, 4 * i:4 * i + 4] for i in range(6))
    y = np.concatenate([dq, dv], 1)
    for rows in sizes:
        n = int(rows / 0.8)
        print(f"random walk of the targets, {rows} training rows:")
        show("from (q, v, a)", mlp_ratio(np.concatenate([q, v, a], 1)[:n], y[:n], args.steps))
        show("with the target's lead", mlp_ratio(np.concatenate([q, v, a, lead], 1)[:n], y[:n], args.steps))


def from_replay(args) -> None:
    d = np.loadtxt(args.csv, delimiter=",", ndmin=2)
    d = d[np.random.default_rng(args.seed).permutation(len(d))]
    sd, q0 = args.state_dim, args.q_offset
    s, a = d[:, 4:4 + sd], d[:, 4 + sd:8 + sd]
    s_next = d[:, 8 + sd:8 + 2 * sd]
    y = (s_next - s)[:, q0:q0 + 8]
    x = np.concatenate([s, a], 1)
    ee = np.array([arm.fk(t) for t in s[:, q0:q0 + 4] + MAX_STEP * a])
    leaving = ((ee < WORKSPACE_MIN) | (ee > WORKSPACE_MAX)).any(1)
    print(f"{args.csv}: {len(d)} transitions; {100 * leaving.mean():.0f} % request a step that "
          f"would take the paddle out of the workspace box")
    for name, rows in (("all", np.ones(len(d), bool)), ("staying in the box", ~leaving),
                       ("leaving the box", leaving)):
        n = min(int(rows.sum()), int(args.rows / 0.8))
        if n < 500:
            print(f"  {name}: {n} rows, too few")
            continue
        show(f"{name} ({int(0.8 * n)} training rows)", mlp_ratio(x[rows][:n], y[rows][:n], args.steps))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6000, help="training steps (batches of 256)")
    ap.add_argument("--seed", type=int, default=0)
    sub = ap.add_subparsers(dest="source", required=True)
    sim = sub.add_parser("sim", help="the push arm driven by a random walk of its targets")
    sim.add_argument("--rows", default="4000,16000,32000", help="training-set sizes")
    rep = sub.add_parser("replay", help="a replay_dump CSV")
    rep.add_argument("csv")
    rep.add_argument("--state-dim", type=int, required=True)
    rep.add_argument("--q-offset", type=int, required=True)
    rep.add_argument("--rows", type=int, default=4000, help="training rows per subset, at most")
    args = ap.parse_args()
    if args.source == "sim":
        from_sim(args)
    else:
        from_replay(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
