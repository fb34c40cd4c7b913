"""The tests' ROS domain ids (tests/domains.py, scripts/claim_test_domains.sh): every slot maps
to a domain id whose DDS ports lie outside Linux's ephemeral port range, and a second test run
on one host waits for the first."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from domains import domain  # noqa: E402


def rtps_ports(domain_id, participants=20):
    """The RTPS ports of a domain (the DDSI-RTPS spec's defaults, which ROS 2's DDS use):
    multicast and unicast, discovery and user traffic, for participant ids 0..participants-1
    (a test's domain holds a handful of processes; domain 101 fits 53)."""
    base = 7400 + 250 * domain_id
    return {base, base + 1} | {base + d + 2 * p for d in (10, 11) for p in range(participants)}


def test_every_slot_keeps_dds_out_of_the_ephemeral_port_range(monkeypatch):
    monkeypatch.delenv("MBARL_TEST_DOMAIN_OFFSET", raising=False)
    assert domain(52) == 52 and domain(101) == 101
    assert domain(102) == 215 and domain(115) == 228
    ids = [domain(s) for s in range(116)]
    assert len(set(ids)) == 116
    ephemeral = range(32768, 61000)     # Linux's default ip_local_port_range
    for d in ids:
        assert not any(p in ephemeral for p in rtps_ports(d)), d
    assert any(p in ephemeral for p in rtps_ports(180)), "the id CI's transport test lost"
    with pytest.raises(ValueError, match="outside"):
        domain(116)
    monkeypatch.setenv("MBARL_TEST_DOMAIN_OFFSET", "x")
    with pytest.raises(ValueError, match="not a number"):
        domain(1)
    monkeypatch.setenv("MBARL_TEST_DOMAIN_OFFSET", "3")
    assert domain(52) == 55


def claim(lock_dir, hold_s):
    env = {k: v for k, v in os.environ.items() if k != "MBARL_TEST_DOMAIN_OFFSET"}
    env["TMPDIR"] = str(lock_dir)
    return subprocess.Popen(
        ["bash", "-c", f"source scripts/claim_test_domains.sh; echo $MBARL_TEST_DOMAIN_OFFSET; sleep {hold_s}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)


def test_a_second_run_waits_for_the_first(tmp_path):
    first = claim(tmp_path, 3)
    assert first.stdout.readline().strip() == "0"
    t0 = time.monotonic()
    second = claim(tmp_path, 0)
    out, _ = second.communicate(timeout=30)
    assert out.strip().splitlines()[-1] == "0", out
    assert "waiting" in out
    assert time.monotonic() - t0 > 1.5, "it waited for the first run's block"
    first.communicate(timeout=30)
    # the block is free again: the next run takes it at once
    again = claim(tmp_path, 0)
    out, _ = again.communicate(timeout=30)
    assert out.strip() == "0"
