#!/usr/bin/env bash
# apt-install.sh LOG PACKAGE...: install the Debian packages that are missing (as root, with
# apt-get), without starting their services (a policy-rc.d for the time of the install): the
# benchmarks run their own copies on loopback. Prints what it does; exits 1 when a package is
# still missing afterwards (not root, or apt-get failed: see LOG).
set -uo pipefail
log=$1; shift
missing=()
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0
if [[ $(id -u) != 0 ]]; then
    echo "missing packages: ${missing[*]}; run: sudo apt-get install -y ${missing[*]}"
    exit 1
fi
echo "installing ${missing[*]} (apt)..."
made_policy=0
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
fi
mkdir -p "$(dirname "$log")"
{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; } \
    >"$log" 2>&1 || echo "apt-get install ${missing[*]} failed: see $log"
((made_policy)) && rm -f /usr/sbin/policy-rc.d
rc=0
for p in "${missing[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || { echo "still missing: $p"; rc=1; }
done
exit $rc
