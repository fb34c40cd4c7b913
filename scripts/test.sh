#!/usr/bin/env bash
# Sets up everything (scripts/setup.sh) and runs all of mbarl's tests:
# formatting, clippy, the Rust tests (unit, integration, interop with a real ROS 2 peer),
# and the Python tests (interface files, simulator). Exits non-zero if anything fails.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$MBARL_ROOT"
# No incremental caches: they only help edit-compile loops and grow the shared target dir by
# gigabytes per checkout.
export CARGO_INCREMENTAL=0

scripts/setup.sh || { mbarl_log "setup failed"; exit 1; }

# Each test run takes its own block of ROS domain ids (held while this script runs).
source scripts/claim_test_domains.sh
mbarl_log "ROS test domains: slots + $MBARL_TEST_DOMAIN_OFFSET (MBARL_TEST_DOMAIN_OFFSET)"

failed=()
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
step() {
  local name="$1"; shift
  mbarl_log "== $name: $*"
  local t0=$SECONDS
  if "$@" 2>&1 | tee -a "$log"; then
    mbarl_log "== $name: ok ($((SECONDS - t0)) s)"
  else
    mbarl_log "== $name: FAILED ($((SECONDS - t0)) s)"; failed+=("$name")
  fi
}

step fmt cargo fmt --all --check
step clippy cargo clippy --workspace --all-targets --locked -- -D warnings
# Integration tests start other packages' node binaries (e.g. the policy test runs world_model):
# build every binary first.
step build cargo build --workspace --bins --locked
step cargo-test cargo test --workspace --locked
# OpenCV camera capture is a cargo feature, off above: lint it (with camera_encoder's capture
# thread) and run the capture tests (a video file, a GStreamer pipeline, missing cameras).
step opencv bash -c 'cargo clippy -p mbarl-vision -p camera_encoder --features camera_encoder/opencv --all-targets --locked -- -D warnings && cargo test -p mbarl-vision --features opencv --locked'
# The end-to-end tests (tests/e2e) run the whole suite as users do: release binaries.
step build-release cargo build --release --workspace --bins --locked
pytest_dirs=()
for d in tests/python tests/sim tests/e2e; do [ -d "$d" ] && pytest_dirs+=("$d"); done
if [ ${#pytest_dirs[@]} -gt 0 ]; then
  step pytest "$MBARL_ROS_PYTHON" -m pytest -q -p no:cacheprovider "${pytest_dirs[@]}"
fi

# One summary line over every runner: cargo's "test result: … N passed; M failed" lines and
# pytest's "N passed[, M failed]" line.
read -r passed fails < <(python3 - "$log" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read()
p = f = 0
for m in re.finditer(r"test result: \w+\. (\d+) passed; (\d+) failed", text):
    p += int(m.group(1)); f += int(m.group(2))
for line in text.splitlines():
    if re.match(r"^=*\s*\d+ (passed|failed)", line.strip()) and " in " in line:
        mp = re.search(r"(\d+) passed", line); mf = re.search(r"(\d+) failed", line)
        p += int(mp.group(1)) if mp else 0; f += int(mf.group(1)) if mf else 0
print(p, f)
PY
)
if [ ${#failed[@]} -gt 0 ]; then
  mbarl_log "FAILED: ${failed[*]}"
  [ "$fails" -gt 0 ] || fails=${#failed[@]}  # a failed step without failing tests (fmt, clippy, build)
  echo "tests: $passed passed, $fails failed"
  exit 1
fi
mbarl_log "all tests passed"
echo "tests: $passed passed, $fails failed"
