"""ROS domain ids for the Python tests: the same rule as the Rust tests' `mbarl_testkit::domain`.

Every test that joins DDS takes its own slot (0..115); its domain id is the slot plus
$MBARL_TEST_DOMAIN_OFFSET (0 when unset). scripts/test.sh gives each test run its own offset
(0 or 116, whichever is free on this host), so two runs on one host never hear each other.
Slots in use: 52-58 and 92-97 (tests/e2e), 104-115 (tests/sim, in turn); the Rust tests take
41-51, 63-66, 71-72, 81-87, 91 and 100-103.
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
        raise ValueError(f"MBARL_TEST_DOMAIN_OFFSET={raw!r} is not a number "
                         "(scripts/test.sh sets 0 or 116)") from None
    d = slot + offset
    if d > 232:
        raise ValueError(f"test domain {d} (slot {slot} + MBARL_TEST_DOMAIN_OFFSET {offset}) is above 232")
    return d
