"""ROS domain ids for the Python tests: the same rule as the Rust tests' `mbarl_testkit::domain`.

Every test that joins DDS takes its own slot (0..115). Its domain id stays out of Linux's
ephemeral port range (32768-60999), where any process's outgoing socket can take a DDS
participant's port and discovery then fails at random (CI's transport test, twice at domain
180): slots 0..101 are domains 0..101, slots 102..115 are domains 215..228 (ROS 2's domain id
guide). $MBARL_TEST_DOMAIN_OFFSET, when set, is added (a caller's choice). scripts/test.sh
holds the host's block while it runs, so a second test run on the host waits for the first and
two runs never hear each other.
Slots in use: 52-58 and 92-97 (tests/e2e), 104-115 (tests/sim, in turn); the Rust tests take
41-51, 63-66, 71-72, 74-78, 81-87, 91 and 100-103.
"""
import os

MAX_SLOT = 115


def domain(slot: int) -> int:
    if not 0 <= slot <= MAX_SLOT:
        raise ValueError(f"test domain slot {slot} is outside 0..{MAX_SLOT}")
    raw = os.environ.get("MBARL_TEST_DOMAIN_OFFSET", "0")
    try:
        offset = int(raw)
    except ValueError:
        raise ValueError(f"MBARL_TEST_DOMAIN_OFFSET={raw!r} is not a number") from None
    # out of Linux's ephemeral port range: slots 0..101 -> domains 0..101, 102..115 -> 215..228
    d = (slot if slot <= 101 else 215 + slot - 102) + offset
    if d > 232:
        raise ValueError(f"test domain {d} (slot {slot} + MBARL_TEST_DOMAIN_OFFSET {offset}) is above 232")
    return d
