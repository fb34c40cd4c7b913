"""A help request answered as an operator would: the whole suite on the lock-step `push` arm,
launched from `scripts/learn_curve.py`'s own launch file, with the arbiter's block rule moved so
that the block's start (x = 0.26 m) is outside it (x must be >= 0.5), so the arbiter asks for
help 10 steps in. Then learn_curve's `--on-help reset` answer runs against it for real: the
training sim's /sim/eval_reset (counted in /sim/reset_count) and `mbarl resume --scene-reset`
(the `/mbarl/resume` service, from Rust). The arbiter's phases.csv must show the resume into a
forward phase with the note, and the sim one reset. `mbarl resume` with no suite in its domain must fail, saying so.

  $MBARL_ROS_PYTHON -m pytest -q -s tests/e2e/test_operator_help.py
"""
import subprocess
import sys
import time

from suite import ROOT, binary, csv_rows, domain, env, start_launch, stop_launch

sys.path.insert(0, str(ROOT / "scripts"))
import learn_curve as lc  # noqa: E402

HELP_DOMAIN, EMPTY_DOMAIN = domain(57), domain(58)
# the block's x, y, z (learn_curve.BLOCK_ON_TABLE's dimensions), with x's lower bound past its start
BLOCK_PAST_ITS_START = [("phase_arbiter", "object_lower", [0.5, -0.5, -0.05]),
                        ("phase_arbiter", "object_outside_steps", 10),
                        # no demos: nothing learns a policy, so no lock-step pacing
                        ("phase_arbiter", "max_training_backlog", 0)]


def test_help_request_answered_by_a_scripted_reset_and_mbarl_resume(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    lf = lc.write_launch(run_dir, "push", "state", "medal", 0, HELP_DOMAIN, 200, lc.STATE_TOPIC, [],
                         BLOCK_PAST_ITS_START)
    out = tmp_path / "launch.out"
    suite = start_launch(lf, HELP_DOMAIN, out)
    probe = lc.TrainingProbe(HELP_DOMAIN)
    try:
        asked = lambda: suite.poll() is None and lc.help_requests(run_dir) >= 1  # noqa: E731
        end = time.monotonic() + 120
        while not asked() and time.monotonic() < end:
            probe.spin(1.0)
        assert asked(), out.read_text()[-3000:]
        rows = csv_rows(run_dir / "metrics/phases.csv")
        help_row = next(r for r in rows if r["to"] == "NeedsHelp")
        assert "the object is out of the workspace" in help_row["reason"], help_row

        said = lc.answer_help(probe, HELP_DOMAIN, 1)
        print(said, flush=True)
        assert said.startswith("sim reset (reset_count=1") and "resumed" in said, said
        probe.spin(1.0)
        assert probe.resets == 1, probe.resets
        rows = csv_rows(run_dir / "metrics/phases.csv")
        resumed = [r for r in rows if r["from"] == "NeedsHelp"]
        assert resumed, rows[-5:]
        assert resumed[0]["reason"].startswith(
            "resumed by operator: learn_curve --on-help reset: scripted reset"), resumed[0]
        # --scene-reset: a forward phase, whichever phase asked for help
        assert resumed[0]["to"] == "Forward", resumed[0]
        assert suite.poll() is None, out.read_text()[-3000:]
    finally:
        probe.close()
        stop_launch(suite)

    # No suite in this domain: a clear error, not a hang.
    nobody = subprocess.run([binary("mbarl"), "resume", "--timeout-s", "2", "--note", "x"],
                            env=env(EMPTY_DOMAIN), capture_output=True, text=True, timeout=60,
                            cwd=ROOT)
    assert nobody.returncode != 0, nobody
    assert "no phase arbiter serves /mbarl/resume" in nobody.stderr, nobody.stderr
