#!/usr/bin/env bash
# integration/ktls-vm/build.sh - builds the kTLS test VM: Debian's stock kernel (which has
# CONFIG_TLS=m, unlike the build machines' kernel) plus a busybox initramfs holding Veil,
# curl, openssl, nginx, bssl-tool (BoringSSL: the ECH server), the kTLS modules, ktls-probe
# and the guest tests.
#
#   integration/ktls-vm/build.sh           # build if any input changed, else "up to date"
#   integration/ktls-vm/build.sh --force   # rebuild the initramfs regardless
#
# Environment:
#   VEIL_VM_BIN         the Veil binary to put in the VM (default .build/release/veil; build it
#                       with: swift build -c release --static-swift-stdlib)
#   KTLS_VM_KERNEL_PKG  kernel package (default: what linux-image-amd64 depends on)
#   KTLS_VM_CACHE       downloads (default integration/.work/ktls-vm-cache)
#   KTLS_VM_OUT         build output (default integration/.work/ktls-vm)
#   KTLS_VM_STRIP       1 (default): strip the binaries copied into the initramfs
#   KTLS_VM_PACKAGES    host packages to check/install (default: the list below)
#   KTLS_VM_EXTRA_BINS  more host programs to copy in with their libraries (e.g. "strace ss")
#
# Output: $KTLS_VM_OUT/vmlinuz, $KTLS_VM_OUT/initramfs.cpio (uncompressed: under TCG the
# kernel unpacks it faster than it would gunzip it), $KTLS_VM_OUT/root (the staged tree).
# Installs missing packages with apt-get when run as root; otherwise prints the command.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${KTLS_VM_CACHE:-$REPO/integration/.work/ktls-vm-cache}
OUT=${KTLS_VM_OUT:-$REPO/integration/.work/ktls-vm}
VEIL_VM_BIN=${VEIL_VM_BIN:-$REPO/.build/release/veil}
STRIP=${KTLS_VM_STRIP:-1}
FORCE=0
[[ "${1:-}" == --force ]] && FORCE=1

# Kernel modules to load, in any order (dependencies from `modinfo -F depends` are added
# and ordered automatically; modules built into the kernel are skipped). The crypto
# templates (ctr, gcm, ghash, chacha20poly1305) are loaded explicitly because the
# initramfs has no modprobe for the kernel's request_module().
KTLS_MODULES=(gf128mul ghash-generic ghash-clmulni-intel ctr gcm ccm cryptd crypto_simd aesni-intel
    libchacha chacha-x86_64 chacha_generic libpoly1305 poly1305-x86_64 poly1305_generic
    chacha20poly1305 tls)
MODULE_DIRS=(crypto arch/x86/crypto lib/crypto net/tls)

# Host packages: the VM tooling, and the guest's user space (copied from the host).
# (the Makefile passes its APT_PACKAGES_VM as KTLS_VM_PACKAGES)
if [[ -n "${KTLS_VM_PACKAGES:-}" ]]; then
    read -r -a HOST_PACKAGES <<<"$KTLS_VM_PACKAGES"
else
    HOST_PACKAGES=(qemu-system-x86 busybox-static cpio kmod gcc libc6-dev linux-libc-dev binutils
        curl openssl nginx-light android-boringssl)
fi

log() { printf 'ktls-vm build: %s\n' "$*"; }
die() { printf 'ktls-vm build: ERROR: %s\n' "$*" >&2; exit 1; }

T0=$(date +%s.%N)
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# ------------------------------------------------------------------ packages

ensure_packages() {
    local missing=() p
    for p in "${HOST_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    if [[ $(id -u) != 0 ]]; then
        die "missing packages: ${missing[*]}; run: sudo apt-get install -y --no-install-recommends ${missing[*]}"
    fi
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# ------------------------------------------------------------------- kernel

kernel_pkg() {
    if [[ -n "${KTLS_VM_KERNEL_PKG:-}" ]]; then echo "$KTLS_VM_KERNEL_PKG"; return; fi
    local p
    p=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
    [[ -n "$p" ]] || die "apt-cache depends linux-image-amd64 named no linux-image-6.x package (apt-get update?)"
    echo "$p"
}

# fetch_kernel PKG: download and unpack (once) into $CACHE; sets KDIR, KVER_DIR, VMLINUZ.
fetch_kernel() {
    local pkg=$1 ver deb
    ver=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null | awk '/^Version:/ { print $2; exit }')
    [[ -n "$ver" ]] || die "apt-cache knows no version of $pkg"
    KDIR=$CACHE/kernel/${pkg}_$ver
    if [[ ! -f "$KDIR/.complete" ]]; then
        mkdir -p "$CACHE/debs"
        deb=$CACHE/debs/${pkg}_${ver//:/%3a}_amd64.deb
        if [[ ! -s "$deb" ]]; then
            log "downloading $pkg $ver"
            (cd "$CACHE/debs" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$ver" >/dev/null)
            [[ -s "$deb" ]] || die "apt-get download did not produce $deb"
        fi
        log "unpacking vmlinuz and the crypto/tls modules of $(basename "$deb")"
        rm -rf "$KDIR"; mkdir -p "$KDIR"
        # Only what the VM needs: the whole package is ~400 MB unpacked.
        local pats=('./boot/vmlinuz-*' './lib/modules/*/modules.builtin' './lib/modules/*/modules.order')
        local d
        for d in "${MODULE_DIRS[@]}"; do pats+=("./lib/modules/*/kernel/$d/*"); done
        dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$KDIR" --wildcards "${pats[@]}"
        touch "$KDIR/.complete"
        # Keep the cache small (CI caches): the unpacked subset is all that is needed again,
        # and other kernel versions are stale.
        rm -f "$deb"
        find "$CACHE/kernel" -mindepth 1 -maxdepth 1 -type d ! -name "$(basename "$KDIR")" -exec rm -rf {} +
    fi
    VMLINUZ=$(ls "$KDIR"/boot/vmlinuz-* | head -n 1)
    KVER_DIR=$(ls -d "$KDIR"/lib/modules/*/ | head -n 1); KVER_DIR=${KVER_DIR%/}
    [[ -f "$VMLINUZ" && -d "$KVER_DIR" ]] || die "unpacked kernel in $KDIR is incomplete"
}

# ------------------------------------------------------------------ modules

declare -A MOD_PATH=() MOD_SEEN=()
MOD_ORDER=()

# find_module NAME: path of NAME.ko (NAME may use - or _), "" if absent.
find_module() {
    local n=$1 alt d f ext
    alt=${n//-/_}
    for d in "${MODULE_DIRS[@]}"; do
        for f in "$n" "$alt" "${n//_/-}"; do
            for ext in ko ko.xz ko.zst ko.gz; do
                [[ -f "$KVER_DIR/kernel/$d/$f.$ext" ]] && { echo "$KVER_DIR/kernel/$d/$f.$ext"; return; }
            done
        done
    done
    # anywhere else in what was unpacked
    find "$KVER_DIR/kernel" \( -name "$n.ko*" -o -name "$alt.ko*" \) -print -quit 2>/dev/null
}

is_builtin() {
    local n=${1//-/_}
    tr '-' '_' <"$KVER_DIR/modules.builtin" | grep -qE "/$n\.ko$"
}

# add_module NAME: depth-first, dependencies before the module.
add_module() {
    local n=$1 key=${1//-/_} path dep deps
    [[ -n "${MOD_SEEN[$key]:-}" ]] && return 0
    MOD_SEEN[$key]=1
    path=$(find_module "$n")
    if [[ -z "$path" ]]; then
        if is_builtin "$n"; then log "module $n is built in"; return 0; fi
        die "module $n not found under $KVER_DIR/kernel/{${MODULE_DIRS[*]}} and not built in"
    fi
    deps=$(modinfo -F depends "$path" | tr ',' ' ')
    for dep in $deps; do add_module "$dep"; done
    MOD_PATH[$key]=$path
    MOD_ORDER+=("$key")
}

# ------------------------------------------------------------ copying files

ROOT=$OUT/root

# put SRC DEST: copy SRC (dereferenced) to $ROOT/DEST; optionally stripped.
put() {
    local src=$1 dest=$ROOT$2
    mkdir -p "$(dirname "$dest")"
    cp -L "$src" "$dest"
}

# put_elf BIN [DEST]: the binary and every library ldd lists, at the same absolute paths.
put_elf() {
    local bin=$1 dest=${2:-$1} lib
    put "$bin" "$dest"
    chmod 755 "$ROOT$dest"
    [[ "$STRIP" == 1 ]] && strip --strip-unneeded "$ROOT$dest" 2>/dev/null || true
    while read -r lib; do
        [[ -n "$lib" && -e "$ROOT$lib" ]] && continue
        [[ -n "$lib" ]] || continue
        put "$lib" "$lib"
        [[ "$STRIP" == 1 ]] && strip --strip-unneeded "$ROOT$lib" 2>/dev/null || true
    done < <(ldd "$bin" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
}

# ----------------------------------------------------------- certificates

make_certs() {
    local d=$ROOT/etc/ktls-vm/pki
    mkdir -p "$d"
    (
        set -e
        cd "$d"
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key
        openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=Veil kTLS VM Test CA" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -out ca.pem
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server.key
        openssl req -new -key server.key -subj "/CN=localhost" -out server.csr
        printf '%s\n' "basicConstraints = CA:FALSE" "keyUsage = critical, digitalSignature" \
            "extendedKeyUsage = serverAuth" "subjectAltName = DNS:localhost, DNS:origin.test, IP:127.0.0.1" \
            >leaf.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 -sha256 \
            -extfile leaf.ext -out server.pem
        openssl verify -CAfile ca.pem server.pem
        rm -f server.csr leaf.ext ca.srl
    ) >"$OUT/openssl.log" 2>&1 || { cat "$OUT/openssl.log"; die "test certificates"; }
}

# --------------------------------------------------------------- the build

ensure_packages
mkdir -p "$CACHE" "$OUT"
[[ -x "$VEIL_VM_BIN" ]] || die "Veil binary $VEIL_VM_BIN not found; build it with: swift build -c release --static-swift-stdlib (or set VEIL_VM_BIN)"
VEIL_VM_BIN=$(readlink -f "$VEIL_VM_BIN")
KPKG=$(kernel_pkg)

# Up to date? The digest covers this directory's files, the binaries copied in (size,
# mtime), the kernel package and the settings.
inputs_digest() {
    {
        echo "kernel $KPKG strip $STRIP modules ${KTLS_MODULES[*]}"
        (cd "$HERE" && find . -type f ! -name '*~' -print0 | sort -z | xargs -0 sha256sum)
        local b
        echo "extra ${KTLS_VM_EXTRA_BINS:-}"
        for b in "$VEIL_VM_BIN" /bin/busybox "$(command -v curl)" "$(command -v openssl)" "$(command -v nginx)" \
            "$(command -v bssl-tool)"; do
            stat -L -c '%n %s %Y' "$b"
        done
    } | sha256sum | cut -d' ' -f1
}
DIGEST=$(inputs_digest)
if ((FORCE == 0)) && [[ -f "$OUT/inputs.sha256" && "$(cat "$OUT/inputs.sha256")" == "$DIGEST" &&
    -s "$OUT/initramfs.cpio" && -s "$OUT/vmlinuz" ]]; then
    log "up to date ($OUT/initramfs.cpio)"
    exit 0
fi
rm -f "$OUT/inputs.sha256"

fetch_kernel "$KPKG"
log "kernel: $KPKG ($(basename "$VMLINUZ"), modules $(basename "$KVER_DIR"))"

for m in "${KTLS_MODULES[@]}"; do add_module "$m"; done
log "modules (load order): ${MOD_ORDER[*]}"

rm -rf "$ROOT"
mkdir -p "$ROOT"/{usr/bin,usr/sbin,usr/lib,usr/lib64,etc,proc,sys,dev,tmp,run,root,var/log/nginx,var/lib/nginx,guest}
# merged /usr, like the host (Debian 12): /lib/x86_64-linux-gnu/... resolves into /usr/lib
ln -s usr/bin "$ROOT/bin"; ln -s usr/sbin "$ROOT/sbin"; ln -s usr/lib "$ROOT/lib"; ln -s usr/lib64 "$ROOT/lib64"
chmod 1777 "$ROOT/tmp"

# kernel modules, decompressed (busybox insmod takes plain .ko)
mkdir -p "$ROOT/lib/modules/ktls"
: >"$ROOT/etc/ktls-vm-modules"
for m in "${MOD_ORDER[@]}"; do
    src=${MOD_PATH[$m]}
    case $src in
        *.ko.xz) xz -dc "$src" >"$ROOT/lib/modules/ktls/$m.ko" ;;
        *.ko.zst) zstd -qdc "$src" >"$ROOT/lib/modules/ktls/$m.ko" ;;
        *.ko.gz) gzip -dc "$src" >"$ROOT/lib/modules/ktls/$m.ko" ;;
        *) cp "$src" "$ROOT/lib/modules/ktls/$m.ko" ;;
    esac
    echo "$m" >>"$ROOT/etc/ktls-vm-modules"
done

# binaries and their libraries
put_elf "$VEIL_VM_BIN" /usr/bin/veil
put_elf "$(command -v curl)" /usr/bin/curl
put_elf "$(command -v openssl)" /usr/bin/openssl
put_elf "$(command -v nginx)" /usr/sbin/nginx
# BoringSSL's bssl-tool: the independent ECH server (its libraries sit under .../android/)
put_elf "$(command -v bssl-tool)" /usr/bin/bssl-tool
for b in ${KTLS_VM_EXTRA_BINS:-}; do put_elf "$(command -v "$b")" "$(command -v "$b")"; done
gcc -O2 -Wall -static -o "$OUT/ktls-probe" "$HERE/ktls-probe.c"
put "$OUT/ktls-probe" /usr/bin/ktls-probe
put /bin/busybox /usr/bin/busybox
for a in $("$ROOT/usr/bin/busybox" --list); do
    [[ -e "$ROOT/usr/bin/$a" || -e "$ROOT/usr/sbin/$a" ]] || ln -s busybox "$ROOT/usr/bin/$a"
done
[[ -f /etc/ssl/openssl.cnf ]] && { put /etc/ssl/openssl.cnf /etc/ssl/openssl.cnf; mkdir -p "$ROOT/usr/lib/ssl"; ln -sf /etc/ssl/openssl.cnf "$ROOT/usr/lib/ssl/openssl.cnf"; }

# /etc
cat >"$ROOT/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat >"$ROOT/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
printf '127.0.0.1\tlocalhost origin.test\n::1\tlocalhost ip6-localhost\n' >"$ROOT/etc/hosts"
printf 'passwd: files\ngroup: files\nhosts: files\n' >"$ROOT/etc/nsswitch.conf"
echo ktls-vm >"$ROOT/etc/hostname"
make_certs

# the guest side
install -m 755 "$HERE/init" "$ROOT/init"
cp -r "$HERE/guest/." "$ROOT/guest/"
chmod 755 "$ROOT"/guest/*.sh

# initramfs (newc); uncompressed is faster to boot under TCG, gzip is optional
KVER=$(basename "$KVER_DIR")
(cd "$ROOT" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --owner=0:0 --quiet) >"$OUT/initramfs.cpio.tmp"
mv "$OUT/initramfs.cpio.tmp" "$OUT/initramfs.cpio"
cp "$VMLINUZ" "$OUT/vmlinuz"
echo "$KPKG $KVER" >"$OUT/kernel.txt"
echo "$DIGEST" >"$OUT/inputs.sha256"
log "initramfs: $(du -h "$OUT/initramfs.cpio" | cut -f1) ($(find "$ROOT" -type f | wc -l) files), veil $(du -h "$ROOT/usr/bin/veil" | cut -f1)"
log "done in $(elapsed)s"
