# Soak with shutdown (issue 10, defect 3): the short run of bench/soak.sh. SOAK_CONCURRENCY
# (200) clients download 1 MiB over and over through one veil, half intercepted and half
# passed through, every body checked by SHA-256, for SOAK_DURATION (20) seconds; then the load
# pauses (idle figures), resumes, and veil gets SIGTERM with transfers in flight. Zero corrupt
# or falsely complete bodies, zero connections without exactly one summary line, zero
# accepted connections left without an answer, zero in-flight transfers failed within the
# grace period; veil exits 0 in time, with its fd count back to the start value when idle.
# (Idle RSS is printed, not judged: see docs/PERFORMANCE.md.)

SOAK_OUT=$(DURATION=${SOAK_DURATION:-20} CONCURRENCY=${SOAK_CONCURRENCY:-200} SOAK_WORK_ROOT=$WORK \
    VEIL_BIN=$VEIL_BIN bash "$REPO_DIR/bench/soak.sh" 2>&1)
SOAK_RC=$?
sed 's/^/    /' <<<"$SOAK_OUT"
# soak_figure LABEL: the number soakclient.py printed after "soak: LABEL: "
soak_figure() { sed -n "s/^soak: $1: \([0-9]*\).*/\1/p" <<<"$SOAK_OUT" | head -n 1; }
if grep -q '^soak: PASS\|^soak: FAIL' <<<"$SOAK_OUT"; then
    expect_eq "soak/no corrupt bodies" 0 "$(soak_figure 'corrupt bodies')"
    expect_eq "soak/no short body ended as if complete" 0 "$(soak_figure 'truncated bodies ended as if complete (close_notify)')"
    expect_eq "soak/every connection has a summary line" 0 "$(soak_figure 'connections without a summary line')"
    expect_eq "soak/no connection has two summary lines" 0 "$(soak_figure 'connections with more than one summary line')"
    expect_eq "soak/every accepted connection is answered" 0 "$(soak_figure 'accepted connections never answered (EOF\/reset instead of a status)')"
    expect_eq "soak/no in-flight transfer fails within the grace period" 0 "$(soak_figure 'in-flight transfers failed within the grace period')"
    expect_eq "soak/no transfer fails under load" 0 "$(soak_figure 'transfers failed before the SIGTERM')"
    expect_match "soak/veil exits within the grace period" 'yes' "$(sed -n 's/^soak: process exited within the grace period: //p' <<<"$SOAK_OUT")"
    expect_eq "soak/veil exit status" 0 "$(sed -n 's/^soak: veil exit status //p' <<<"$SOAK_OUT")"
    # No descriptor leaked: back to the start value or below (the start is measured after the
    # warm-up, when the workers' pipe pools may still hold empty splice pipes; a burst's end
    # closes them all).
    SOAK_FDS=$(sed -n 's/^soak: idle fds vs start: //p' <<<"$SOAK_OUT")
    check "soak/fds back to the start value or below when idle (got ${SOAK_FDS:-nothing})" test "${SOAK_FDS:-x}" -le 0
else
    fail "soak/ran" "bench/soak.sh exited $SOAK_RC without a verdict"
fi
