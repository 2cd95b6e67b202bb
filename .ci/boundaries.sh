#!/usr/bin/env bash
# Layer boundaries (docs/ARCHITECTURE.md, Layers; each folder in docs/DESIGN.md), checked on the sources; prints each breach
# and fails if there is one:
# - only VeilRuntime imports CLibURing or CRuntimeShims, and only it prepares io_uring submissions;
# - only VeilTLS (and its tests) import COpenSSL, COpenSSLShims or CRecordCrypto, and the
#   runtime's C includes no OpenSSL header;
# - VeilHTTP2 is pure: it imports nothing but the standard library and VeilWire;
# - every package module a target imports is declared as its dependency in Package.swift;
# - no Swift source folder holds more than 25 files (issue 12: folders by concern).
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
bad=0
breach() { echo "boundaries: $*"; bad=1; }

while IFS= read -r hit; do breach "outside VeilRuntime: $hit"; done < <(
    grep -rnE '^\s*(@testable |internal |public |private |fileprivate |@_exported )*import (CLibURing|CRuntimeShims)\b' \
        Sources --include='*.swift' | grep -v '^Sources/VeilRuntime/')
while IFS= read -r hit; do breach "io_uring submission outside VeilRuntime: $hit"; done < <(
    grep -rnE 'io_uring_|veil_prep_|IORING_|IOSQE_' Sources --include='*.swift' | grep -v '^Sources/VeilRuntime/' \
        | grep -vE '^[^:]+:[0-9]+:\s*//')
while IFS= read -r hit; do breach "OpenSSL outside VeilTLS: $hit"; done < <(
    grep -rnE '^\s*(@testable |internal |public |private |fileprivate |@_exported )*import (COpenSSL|COpenSSLShims|CRecordCrypto)\b' \
        Sources Tests --include='*.swift' | grep -vE '^(Sources/VeilTLS|Tests/VeilTLSTests)/')
while IFS= read -r hit; do breach "OpenSSL header in the runtime's C: $hit"; done < <(
    grep -rn 'openssl/' Sources/CRuntimeShims Sources/CLibURing)

while IFS= read -r hit; do breach "VeilHTTP2 imports more than VeilWire: $hit"; done < <(
    grep -rnE '^\s*(@testable |internal |public |private |fileprivate |@_exported )*import ' Sources/VeilHTTP2 --include='*.swift' 2>/dev/null \
        | grep -vE 'import (VeilWire|Swift)$')

while IFS= read -r dir; do
    n=$(find "$dir" -maxdepth 1 -name '*.swift' | wc -l)
    ((n > 25)) && breach "$dir holds $n Swift files (at most 25: split it by concern)"
done < <(find Sources -type d)

# Imports against Package.swift's declared dependencies.
dump=$(swift package dump-package 2>/dev/null) || { breach "swift package dump-package failed"; exit 1; }
while IFS= read -r hit; do breach "$hit"; done < <(python3 - "$dump" <<'PY'
import json, os, re, sys
pkg = json.loads(sys.argv[1])
targets = {t["name"]: t for t in pkg["targets"]}
products = set()
for t in pkg["targets"]:
    for d in t.get("dependencies", []):
        if "product" in d:
            products.add(d["product"][0])
known = set(targets) | products
imp = re.compile(r'^\s*(?:@testable |internal |public |private |fileprivate |@_exported )*import (?:(?:struct|class|enum|func|var|let|protocol|typealias) )?([A-Za-z_][A-Za-z0-9_]*)', re.M)
for name, t in targets.items():
    if t["type"] not in ("regular", "executable", "test"):
        continue
    path = t.get("path") or ("Tests/" if t["type"] == "test" else "Sources/") + name
    declared = set()
    for d in t.get("dependencies", []):
        for key in ("byName", "target", "product"):
            if key in d:
                declared.add(d[key][0])
    for root, _, files in os.walk(path):
        for f in files:
            if not f.endswith(".swift"):
                continue
            p = os.path.join(root, f)
            for m in imp.findall(open(p, encoding="utf-8").read()):
                if m in known and m != name and m not in declared:
                    print(f"{p} imports {m}, which {name} does not declare in Package.swift")
PY
)
[[ $bad == 0 ]] && echo "boundaries: ok"
exit $bad
