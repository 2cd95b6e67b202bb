#!/usr/bin/env bash
# integration/ktls-vm/run.sh - the kTLS CI proof: boots Debian 12's stock kernel (CONFIG_TLS=m)
# under qemu (TCG software emulation, no KVM needed) with a busybox initramfs, runs the guest
# tests (guest/run-tests.sh) inside, streams the console to stdout.
#
#   integration/ktls-vm/run.sh                 # build if needed, boot, run every guest test
#   integration/ktls-vm/run.sh veil probe      # only guest groups whose name contains a word
#                                              # (kernel probe direct nginx veil)
#
# Exit status: 0 only if the guest's last "N passed, M failed" line says N > 0 and M = 0;
# 1 on failed tests, a missing verdict, a kernel panic or a build error; 124 on timeout.
#
# Environment:
#   VEIL_VM_BIN       the Veil binary (default .build/release/veil), see build.sh
#   KTLS_VM_TIMEOUT   seconds before qemu is killed (default 900)
#   KTLS_VM_QEMU      qemu binary (default qemu-system-x86_64)
#   KTLS_VM_CPU       qemu -cpu model (default max; e.g. max,-avx,-avx2,-vaes,-vpclmulqdq so that
#                     kernel and OpenSSL both run the same SSE AES-NI/PCLMUL code in bench)
#   KTLS_VM_SMP / KTLS_VM_MEM   vCPUs (default 2) / MiB (default 1536)
#   KTLS_VM_APPEND    extra kernel command-line words
#   plus build.sh's KTLS_VM_CACHE, KTLS_VM_OUT, KTLS_VM_KERNEL_PKG
# The console log is kept in $KTLS_VM_OUT/console.log (default integration/.work/ktls-vm).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
OUT=${KTLS_VM_OUT:-$REPO/integration/.work/ktls-vm}
export KTLS_VM_OUT=$OUT
TIMEOUT=${KTLS_VM_TIMEOUT:-900}
QEMU=${KTLS_VM_QEMU:-qemu-system-x86_64}
LOG=$OUT/console.log

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

T0=$(now)
"$HERE/build.sh" || { echo "ktls-vm: build failed"; exit 1; }
T_BUILT=$(now)

# Guest arguments travel on the kernel command line: ktls_vm.args=word1,word2
args=""
for w in "$@"; do
    [[ "$w" =~ ^[A-Za-z0-9._/-]+$ ]] || { echo "ktls-vm: bad test filter word '$w'"; exit 2; }
    args+="${args:+,}$w"
done
APPEND="console=ttyS0 panic=-1 oops=panic quiet loglevel=5 rdinit=/init tsc=reliable"
[[ -n "$args" ]] && APPEND+=" ktls_vm.args=$args"
APPEND+=" ${KTLS_VM_APPEND:-}"

# qboot (qemu-system-data) boots a -kernel a few seconds faster than SeaBIOS under TCG.
BIOS=()
[[ -f /usr/share/qemu/qboot.rom && -z "${KTLS_VM_SEABIOS:-}" ]] && BIOS=(-bios /usr/share/qemu/qboot.rom)
QEMU_CMD=("$QEMU" -cpu "${KTLS_VM_CPU:-max}" -m "${KTLS_VM_MEM:-1536}" -smp "${KTLS_VM_SMP:-2}" -nographic -no-reboot
    -nodefaults -serial stdio -net none "${BIOS[@]}"
    -kernel "$OUT/vmlinuz" -initrd "$OUT/initramfs.cpio" -append "$APPEND")

echo "ktls-vm: booting $(cat "$OUT/kernel.txt" 2>/dev/null) (timeout ${TIMEOUT}s)"
echo "ktls-vm: ${QEMU_CMD[*]}"
mkdir -p "$OUT"
: >"$LOG"
rm -f "$OUT/.boot-at" "$OUT/.tests-done-at"
T_QEMU=$(now)
# The console is streamed line by line; timestamps of the guest's milestones go to files
# (the loop runs in a subshell). The pipeline runs in the background so that an interrupt
# reaches our trap, which stops qemu (through timeout, which forwards the signal).
stream() {
    local line
    while IFS= read -r line || [[ -n "$line" ]]; do
        line=${line%$'\r'}
        printf '%s\n' "$line"
        printf '%s\n' "$line" >>"$LOG"
        case $line in
            *"ktls-vm: init started"*) now >"$OUT/.boot-at" ;;
            *"ktls-vm: guest tests exited"*) now >"$OUT/.tests-done-at" ;;
        esac
    done
}
rm -f "$OUT/.qemu-pid" "$OUT/.qemu-rc"
{
    # SIGTERM stops qemu at once (the guest gets no say); KILL 10 s later if it is still there.
    # (timeout -s KILL would also kill timeout itself and leave qemu unreaped.)
    timeout -k 10 "$TIMEOUT" "${QEMU_CMD[@]}" </dev/null 2>&1 &
    echo $! >"$OUT/.qemu-pid"
    wait $!
    echo $? >"$OUT/.qemu-rc"
} | stream &
PIPE_PID=$!
INTERRUPTED=0
stop_qemu() {
    INTERRUPTED=1
    echo "ktls-vm: interrupted, stopping qemu"
    [[ -s "$OUT/.qemu-pid" ]] && kill -TERM "$(cat "$OUT/.qemu-pid")" 2>/dev/null
}
trap stop_qemu INT TERM
wait "$PIPE_PID"
while kill -0 "$PIPE_PID" 2>/dev/null; do wait "$PIPE_PID"; done
trap - INT TERM
QEMU_RC=$(cat "$OUT/.qemu-rc" 2>/dev/null || echo unknown)
T_END=$(now)

verdict=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$LOG" | tail -n 1)
rc=0
why=""
if ((INTERRUPTED)); then
    rc=130; why="interrupted"
elif [[ "$QEMU_RC" == 124 || "$QEMU_RC" == 137 ]]; then
    rc=124; why="timed out after ${TIMEOUT}s (qemu killed)"
elif grep -qE 'Kernel panic|^\[ *[0-9]+\.[0-9]+\] (BUG: |Oops: |general protection fault)' "$LOG"; then
    rc=1; why="kernel panic/oops (see above)"
elif [[ -z "$verdict" ]]; then
    rc=1; why="no 'N passed, M failed' line from the guest (qemu exited $QEMU_RC)"
elif ! [[ "$verdict" =~ ^([0-9]+)\ passed,\ 0\ failed$ ]] || ((BASH_REMATCH[1] == 0)); then
    rc=1; why="guest: $verdict"
elif [[ "$QEMU_RC" != 0 ]]; then
    rc=1; why="qemu exited $QEMU_RC"
fi

echo
boot="?"; tests="?"
[[ -f "$OUT/.boot-at" ]] && boot=$(secs "$T_QEMU" "$(cat "$OUT/.boot-at")")
[[ -f "$OUT/.boot-at" && -f "$OUT/.tests-done-at" ]] && tests=$(secs "$(cat "$OUT/.boot-at")" "$(cat "$OUT/.tests-done-at")")
echo "ktls-vm: timings: build $(secs "$T0" "$T_BUILT")s, boot to /init ${boot}s, guest tests ${tests}s, qemu total $(secs "$T_QEMU" "$T_END")s, overall $(secs "$T0" "$T_END")s"
warnings=$(grep -cE '^\[ *[0-9]+\.[0-9]+\] WARNING: ' "$LOG")
((warnings > 0)) && echo "ktls-vm: the kernel logged $warnings WARNING splat(s), see $LOG"
echo "ktls-vm: console log: $LOG"
if ((rc == 0)); then
    echo "ktls-vm: OK ($verdict)"
else
    echo "ktls-vm: FAILED: $why"
fi
exit "$rc"
