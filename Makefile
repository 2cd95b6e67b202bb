# Veil - developer entry points.
#
#   make deps    install the system packages the build and the tests need (Debian/apt)
#   make build   release build: .build/release/veil
#   make run     build, then run veil on 127.0.0.1:8080
#   make test    unit tests (swift test), integration tests against the release build, the wire
#                proof in network namespaces (integration/netns, writes docs/WIRE-PROOF.md), then
#                the kTLS proof in a qemu VM (make ktls-vm)
#   make bench   passthrough benchmark (bench/passthrough.sh)
#   make bench-intercept   intercept benchmark: veil vs Squid ssl-bump vs mitmproxy
#                (bench/intercept.sh; installs squid-openssl and mitmproxy itself)
#   make ktls-vm kTLS proof: static release build, then the tests in a qemu VM (integration/ktls-vm)
#   make clean   remove build output and test/bench scratch dirs

SHELL := /bin/bash

APT_PACKAGES := libssl-dev liburing-dev pkg-config curl openssl nginx-light \
                tshark socat python3 iproute2 unbound testssl.sh

VEIL := .build/release/veil

# kTLS proof in a VM (integration/ktls-vm): qemu boots Debian's stock kernel (CONFIG_TLS=m).
# integration/ktls-vm/build.sh installs these itself when run as root.
APT_PACKAGES_VM := qemu-system-x86 busybox-static cpio kmod gcc libc6-dev linux-libc-dev binutils \
                   curl openssl nginx-light
VEIL_VM := .build-vm/release/veil

.PHONY: deps build run test bench bench-intercept clean

deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all system packages present"; exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "deps: missing packages:$$missing"; \
	  echo "deps: run: sudo apt-get install -y$$missing"; \
	  exit 1; \
	fi; \
	echo "deps: installing:$$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections; \
	made_policy=0; \
	if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1; fi; \
	apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; rc=$$?; \
	[ $$made_policy = 1 ] && rm -f /usr/sbin/policy-rc.d; exit $$rc

build:
	swift build -c release

run: deps build
	@echo
	@echo "veil will listen on 127.0.0.1:8080 and intercept TLS with its own CA"
	@echo "(created on first run in \$${VEIL_HOME:-~/.veil}). Point curl at it, e.g.:"
	@echo "    curl -x http://127.0.0.1:8080 --cacert \"\$$($(VEIL) ca path)\" https://example.com/"
	@echo "Names are resolved over DoH (https://1.1.1.1/dns-query); see README for other resolvers."
	@echo
	exec $(VEIL) run

test: deps build
	swift test
	VEIL_BIN=$(CURDIR)/$(VEIL) integration/run-all.sh
	VEIL_BIN=$(CURDIR)/$(VEIL) integration/netns/run.sh
	$(MAKE) ktls-vm

bench: deps build
	VEIL_BIN=$(CURDIR)/$(VEIL) bench/passthrough.sh

bench-intercept: deps build
	VEIL_BIN=$(CURDIR)/$(VEIL) bench/intercept.sh

clean:
	rm -rf .build .build-vm integration/.work bench/.work

.PHONY: ktls-vm
ktls-vm:
	swift build -c release --static-swift-stdlib --scratch-path .build-vm
	KTLS_VM_PACKAGES="$(APT_PACKAGES_VM)" VEIL_VM_BIN=$(CURDIR)/$(VEIL_VM) integration/ktls-vm/run.sh
