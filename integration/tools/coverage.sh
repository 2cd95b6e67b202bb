#!/usr/bin/env bash
# Line coverage of the connection state machines by the unit tests (issue 12's bar: 85%).
#
#   integration/tools/coverage.sh            # run swift test with coverage, print the report
#   COVERAGE_MIN=85 integration/tools/coverage.sh   # also fail below that percentage (the default)
#
# The report lists each machine file (below) and the total, from llvm-cov over the test binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/opt/swift/usr/bin:$PATH"
MIN=${COVERAGE_MIN:-85}

log=$(mktemp /tmp/veil-coverage-test.XXXXXX.log)
trap 'rm -f "$log"' EXIT
swift test --enable-code-coverage >"$log" 2>&1 || { tail -n 30 "$log"; exit 1; }
codecov=$(swift test --show-codecov-path)
profdata=$(dirname "$codecov")/default.profdata
binary=$(ls -d .build/debug/*PackageTests.xctest | head -n 1)
# The machines and the value types only they use (streams, failures, per-state data); not their
# owners (Connection+*, TLSFront*, RelayTunnel), which only the integration tests reach.
mapfile -t files < <(find Sources/VeilProxy \( -name '*Machine.swift' -o -name '*Machine+*.swift' \
    -o -name 'StreamDirection.swift' -o -name 'SpliceStream.swift' -o -name 'HandshakeRecordStream.swift' \
    -o -name 'Transfer[A-Z]*.swift' -o -name 'Outer[A-Z]*.swift' -o -name 'ForwardRequestStream.swift' \
    -o -name 'RequestBodyFraming.swift' -o -name 'RequestPolicy.swift' -o -name 'RelayTunnel[A-Z]*.swift' \
    -o -name 'Intercept[A-Z]*.swift' -o -name 'MixedRelay.swift' \) | sort)
((${#files[@]} > 0)) || { echo "coverage: no state machine files found"; exit 1; }
report=$(llvm-cov report "$binary" -instr-profile "$profdata" "${files[@]}")
echo "$report"
total=$(awk '/^TOTAL/ { print $(NF-3) }' <<<"$report" | tr -d '%')
echo
echo "state machine line coverage: ${total}% (minimum ${MIN}%)"
awk -v t="$total" -v m="$MIN" 'BEGIN { exit !(t + 0 >= m + 0) }'
