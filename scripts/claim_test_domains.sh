# Sourced by scripts/test.sh: this test run takes the host's block of ROS test domain ids
# (tests/domains.py and mbarl_testkit::domain), held by a lock on an open file descriptor for as
# long as the sourcing shell (and any process it leaves behind) runs, so two runs on one host
# never hear each other: a second run waits for the first. There is one block: the domain ids
# that keep DDS's ports out of Linux's ephemeral port range (0-101, 215-232) hold one run's
# slots, and a second block above them made discovery fail at random. An offset set by the
# caller wins (and the caller then answers for it).
if [ -z "${MBARL_TEST_DOMAIN_OFFSET:-}" ]; then
  lock_dir="${TMPDIR:-/tmp}/mbarl-test-domains-$(id -u)"
  mkdir -p "$lock_dir"
  exec {domain_lock}>"$lock_dir/0.lock"
  if ! flock -n "$domain_lock"; then
    echo "[claim_test_domains] another test run holds this host's ROS test domains: waiting for it to finish"
    flock "$domain_lock"
  fi
  export MBARL_TEST_DOMAIN_OFFSET=0
fi
