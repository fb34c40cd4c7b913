"""The tests' ROS domain ids (tests/domains.py, scripts/claim_test_domains.sh): two test runs on
one host take different blocks, and a slot maps to slot + the run's offset."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from domains import domain  # noqa: E402


def test_a_slot_is_moved_by_the_run_offset(monkeypatch):
    monkeypatch.delenv("MBARL_TEST_DOMAIN_OFFSET", raising=False)
    assert domain(52) == 52
    monkeypatch.setenv("MBARL_TEST_DOMAIN_OFFSET", "116")
    assert domain(52) == 168
    assert domain(115) == 231
    with pytest.raises(ValueError, match="outside"):
        domain(116)
    monkeypatch.setenv("MBARL_TEST_DOMAIN_OFFSET", "x")
    with pytest.raises(ValueError, match="not a number"):
        domain(1)


def claim(lock_dir, hold_s):
    env = {k: v for k, v in os.environ.items() if k != "MBARL_TEST_DOMAIN_OFFSET"}
    env["TMPDIR"] = str(lock_dir)
    return subprocess.Popen(
        ["bash", "-c", f"source scripts/claim_test_domains.sh; echo $MBARL_TEST_DOMAIN_OFFSET; sleep {hold_s}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)


def test_two_runs_at_once_take_different_blocks_and_a_third_waits(tmp_path):
    first = claim(tmp_path, 3)
    assert first.stdout.readline().strip() == "0"
    second = claim(tmp_path, 3)
    assert second.stdout.readline().strip() == "116"
    t0 = time.monotonic()
    third = claim(tmp_path, 0)
    out, _ = third.communicate(timeout=30)
    # it waited for the first run's block
    assert out.strip().splitlines()[-1] == "0", out
    assert time.monotonic() - t0 > 1.5
    for p in (first, second):
        p.communicate(timeout=30)
    # both blocks free again: the next run takes the first
    again = claim(tmp_path, 0)
    out, _ = again.communicate(timeout=30)
    assert out.strip() == "0"
