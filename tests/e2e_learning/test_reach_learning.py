"""The learning end-to-end test: the whole suite learns the simulated `reach` task (state
observations) to >= 80% deployed success without resets (issue 6).

Not part of CI (scripts/test.sh) yet: since the workspace box it passed 1 of 5 runs (docs/RESULTS.md).
Run it with:  scripts/e2e_learning.sh   (or $MBARL_ROS_PYTHON -m pytest -s tests/e2e_learning)
"""
import os
import sys
import subprocess
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from test_reach_e2e import (  # noqa: E402,F401  (eval_bridge is a fixture)
    BUDGET_S, EVAL_DOMAIN, MAX_STEPS, PY, TRAIN_DOMAIN, binary, env, eval_args, eval_bridge,
    launch_file, parse_round, phase_switches, read_latched_uint64, record_demos, stop, ROOT,
)


def test_reach_state_learns_without_resets(tmp_path, eval_bridge):
    run_dir = tmp_path / "run"
    record_demos(run_dir)
    preset = ROOT / "config/presets/state.yaml"

    # The untrained forward policy (no checkpoint yet: freshly initialised networks).
    out = subprocess.run(
        eval_args(run_dir, preset), env=env(EVAL_DOMAIN), capture_output=True, text=True,
        timeout=300,
    )
    first = next((parse_round(l) for l in out.stdout.splitlines() if parse_round(l)), None)
    assert first, out.stdout + out.stderr
    assert first[0] / first[1] <= 0.2, f"untrained policy already succeeds: {first}"

    log = open(tmp_path / "launch.out", "w")
    suite = subprocess.Popen(
        [binary("mbarl"), "launch", str(launch_file(run_dir, tmp_path)), "--base", str(ROOT),
         "--status-every", "10"],
        env=env(TRAIN_DOMAIN), stdout=log, stderr=subprocess.STDOUT,
    )
    watcher = subprocess.Popen(
        eval_args(run_dir, preset, watch_period_s=5.0), env=env(EVAL_DOMAIN),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1,
    )
    rounds = []
    try:
        start = time.monotonic()
        os.set_blocking(watcher.stdout.fileno(), False)
        while time.monotonic() - start < BUDGET_S:
            assert suite.poll() is None, "mbarl launch stopped: " + (tmp_path / "launch.out").read_text()[-3000:]
            line = watcher.stdout.readline()
            if not line:
                assert watcher.poll() is None, "deployed_eval stopped"
                time.sleep(1)
                continue
            r = parse_round(line)
            if r:
                rounds.append(r)
                print(line.strip(), flush=True)
                if r[0] / r[1] >= 0.8 or r[2] >= MAX_STEPS:
                    break
        best = max(rounds, key=lambda r: r[0] / r[1]) if rounds else None
        assert best and best[0] / best[1] >= 0.8, f"deployed success never reached 80%: {rounds}"
        assert best[2] <= MAX_STEPS, f"80% only after {best[2]} env steps (budget {MAX_STEPS})"
        switches = phase_switches(run_dir)
        assert ("Forward", "Backward") in switches and ("Backward", "Forward") in switches, switches
        assert all(to != "NeedsHelp" for _, to in switches), switches
        resets = read_latched_uint64("/sim/reset_count", TRAIN_DOMAIN, timeout=20)
        assert resets == 0, f"the training sim was reset {resets} times"
        print(f"e2e reach: first {first}, rounds {rounds}, {len(switches)} phase changes")
    finally:
        stop(watcher)
        stop(suite, timeout=40)
        log.close()


