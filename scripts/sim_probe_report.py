#!/usr/bin/env python3
"""What happened in the training sim of a learning-curve run, from its ground-truth log
(`<run>/metrics/sim_probe.csv`, written by scripts/learn_curve.py's probe; never a training
input) and the arbiter's `metrics/phases.csv`:

  scripts/sim_probe_report.py RUN_DIR [--window 1000]

Per window of env steps: the end effector's mean and closest distance to the object (push: the
block, door: the handle), in how many steps the object moved, and in how many the forward task
was solved. Then per phase kind: how many phases started with the object where the forward
demonstrations start (push: block within 0.05 m of the start; door: angle below 0.15 rad) and
how many of them saw the forward task solved; how many backward phases that began with the
object away from the start ended with it there, and of those that ended on the demo-state score,
how many had it there. Push only: in the forward phases that started with the block away from
the start, how close the end effector came to the block and how close to
where the demonstrations' block sits (the start region's centre at block height): a policy that
replays the demonstrations' motion instead of going to the block comes closer to the second.
Used in docs/notes/2026-12-07-results-history.md to tell an exploration failure (the object never touched again) from a
learning one. Last, per cycle (the arbiter's `cycle`): how far the object travelled, the longest
run of cycles in which it moved less than 1 cm, and where the arbiter's stillness rule
(`object_still_cycles` N, `object_min_travel` 0.01) would first have asked for help, for
`--still-cycles` N (default 10).
"""
import argparse
import csv
import math
import sys
from pathlib import Path

DT = 0.05  # the sim's control period: step index = sim_time / DT


def load(run):
    rows = {}
    with open(run / "metrics/sim_probe.csv") as f:
        for r in csv.DictReader(f):
            rows[round(float(r["sim_time"]) / DT)] = {k: float(v) for k, v in r.items()}
    return rows


def ee(r):
    return (r["ee_x"], r["ee_y"], r["ee_z"])


def obj(r):
    if "block_x" in r:
        return (r["block_x"], r["block_y"], r["block_z"])
    return (r["handle_x"], r["handle_y"], r["handle_z"])


def obj_key(r):
    return (r["block_x"], r["block_y"]) if "block_x" in r else (r["door_angle"],)


def at_start(r):
    if "block_x" in r:
        return math.hypot(r["block_x"] - r["start_x"], r["block_y"] - r["start_y"]) < 0.05
    if "door_angle" in r:
        return r["door_angle"] < 0.15
    # reach: the end effector back at the forward start region (the reverse task's success)
    return math.dist(ee(r), (r["start_x"], r["start_y"], r["start_z"])) < 0.05


def practice(run, after=0):
    """What training practised, from the ground-truth log (never a training input), over the
    phases begun at or after env step `after`: of the forward phases that began with the task
    not done, how many saw it done and how many ended with it done (the robot left the task
    done: a reach that passes the goal and drifts on saw it done but did not leave it so); of
    the backward phases that began with the scene away from
    the forward start, how many ended with it back there (push: the block, door: the door
    closed, reach: the end effector). A phase that begins already done (a door left open, a
    scene never moved) is no practice and counts in neither. A dict of counts
    (forward_phases, forward_solved, forward_left_done, backward_phases, backward_undone); None
    without logs."""
    try:
        rows = load(run)
        with open(run / "metrics/phases.csv") as f:
            phase_rows = list(csv.DictReader(f))
    except (OSError, KeyError, ValueError):
        return None
    if not rows:
        return None
    last = max(rows)
    out = dict(forward_phases=0, forward_solved=0, forward_left_done=0, backward_phases=0,
               backward_undone=0)
    starts = [(int(p["total_steps"]), p["to"]) for p in phase_rows]
    for i, (start, kind) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else last
        ks = [k for k in range(start + 1, end + 1) if k in rows]
        if start < after or not ks:
            continue
        first = rows[ks[0]]
        if kind == "Forward" and first["success"] <= 0:
            out["forward_phases"] += 1
            out["forward_solved"] += any(rows[k]["success"] > 0 for k in ks)
            out["forward_left_done"] += rows[ks[-1]]["success"] > 0
        elif kind == "Backward" and not at_start(first):
            out["backward_phases"] += 1
            out["backward_undone"] += at_start(rows[ks[-1]])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--window", type=int, default=1000)
    ap.add_argument("--still-cycles", type=int, default=10)
    a = ap.parse_args()
    try:
        rows = load(a.run)
    except (OSError, KeyError, ValueError) as e:
        sys.exit(f"cannot read {a.run}/metrics/sim_probe.csv: {e}")
    if not rows:
        sys.exit("no steps logged")
    steps = sorted(rows)
    print(f"{a.run.name}: {len(steps)} steps logged, last {steps[-1]}")
    print("steps          ee-object mean  min    object moved  forward solved")
    for lo in range(0, steps[-1] + 1, a.window):
        sel = [rows[k] for k in steps if lo <= k < lo + a.window]
        if not sel:
            continue
        d = [math.dist(ee(r), obj(r)) for r in sel]
        moved = sum(1 for p, q in zip(sel, sel[1:])
                    if max(abs(x - y) for x, y in zip(obj_key(p), obj_key(q))) > 1e-3)
        solved = sum(r["success"] > 0 for r in sel)
        print(f"{lo:6d}-{lo + a.window:<6d}  {sum(d) / len(d):14.3f}  {min(d):.3f}  {moved:12d}  {solved:14d}")
    phases_csv = a.run / "metrics/phases.csv"
    if not phases_csv.exists():
        return
    with open(phases_csv) as f:
        phase_rows = list(csv.DictReader(f))
    phases = [(int(p["total_steps"]), p["to"]) for p in phase_rows]
    cycles = [int(p["cycle"]) for p in phase_rows]
    cycle_travel = {}  # cycle -> [object travel (m), last env step]
    # why each phase ended: the reason of the next row
    ends = [p["reason"] for p in phase_rows[1:]] + [""]
    summary = {}
    # backward phases that began with the object away from the start: (ended there, ended on the score)
    returns = []
    approach = []  # push forward phases with the block away from the start: (to block, to start)
    for i, (start, kind) in enumerate(phases):
        end = phases[i + 1][0] if i + 1 < len(phases) else steps[-1]
        ks = [k for k in range(start + 1, end + 1) if k in rows]
        if not ks:
            continue
        c = cycle_travel.setdefault(cycles[i], [0.0, end])
        c[0] += sum(math.dist(obj(rows[p]), obj(rows[q])) for p, q in zip(ks, ks[1:]))
        c[1] = end
        s = summary.setdefault(kind, [0, 0, 0])
        s[0] += 1
        s[1] += at_start(rows[ks[0]])
        s[2] += any(rows[k]["success"] > 0 for k in ks)
        first = rows[ks[0]]
        if kind == "Backward" and not at_start(first):
            returns.append((at_start(rows[ks[-1]]), ends[i].startswith("demo-state score")))
        if kind == "Forward" and "block_x" in first and not at_start(first):
            demo_block = (first["start_x"], first["start_y"], first["block_z"])
            approach.append((min(math.dist(ee(rows[k]), obj(rows[k])) for k in ks),
                             min(math.dist(ee(rows[k]), demo_block) for k in ks)))
    for kind, (n, started, solved) in summary.items():
        print(f"{kind} phases: {n}, starting with the object at the forward start: {started}, "
              f"forward task solved during the phase: {solved}")
    if returns:
        back = sum(r for r, _ in returns)
        on_score = [r for r, scored in returns if scored]
        print(f"Backward phases that began with the object away from the start: {len(returns)}; "
              f"ended with it at the start: {back}; ended on the demo-state score: "
              f"{len(on_score)}, {sum(on_score)} of them with the object at the start")
    if approach:
        to_block = sorted(a for a, _ in approach)
        to_start = sorted(b for _, b in approach)
        nearer_start = sum(b < a for a, b in approach)
        print(f"Forward phases with the block away from the start: {len(approach)}; closest "
              f"approach (median) to the block {to_block[len(to_block) // 2]:.3f} m, to the "
              f"demonstrations' block position {to_start[len(to_start) // 2]:.3f} m; nearer the "
              f"latter in {nearer_start}")

    still_report(cycle_travel, a.still_cycles, steps[-1])


def still_report(cycle_travel, n, last_step, min_travel=0.01):
    """Cycles in a row in which the object moved less than `min_travel`, and the env step where
    `n` of them in a row would have asked for help (the arbiter's object_still_cycles rule)."""
    run, longest, first_help = 0, 0, None
    for cycle in sorted(cycle_travel):
        travel, end = cycle_travel[cycle]
        run = run + 1 if travel < min_travel else 0
        longest = max(longest, run)
        if run >= n and first_help is None:
            first_help = end
    if not cycle_travel:
        return
    still = sum(t < min_travel for t, _ in cycle_travel.values())
    when = (f"at env step {first_help} ({100 * (last_step - first_help) / max(last_step, 1):.0f} % "
            f"of the run after it)" if first_help is not None else "never")
    print(f"Cycles: {len(cycle_travel)}; the object moved < {min_travel} m in {still}; longest run "
          f"of such cycles {longest}; a rule of {n} such cycles in a row would have asked for help {when}")


if __name__ == "__main__":
    main()
