#!/usr/bin/env bash
# kTLS benchmark (not a test; prints figures): boots the kTLS VM (integration/ktls-vm) and runs
# its "bench" group: the same download through Veil with --ktls off and --ktls auto, Veil's CPU
# seconds per MiB for each and their ratio (target: kTLS <= 70% of userspace).
#   bench/ktls-vm.sh                 (builds the static binary into .build-vm first)
#   (the download is 16 MiB: the VM runs under emulation)
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --static-swift-stdlib --scratch-path .build-vm
VEIL_VM_BIN=$PWD/.build-vm/release/veil KTLS_VM_TIMEOUT=${KTLS_VM_TIMEOUT:-1500} \
    integration/ktls-vm/run.sh bench | tee /dev/stderr | grep '^bench:' || true
