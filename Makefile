# Veil - developer entry points.
#
#   make deps    install the system packages the build and the tests need (Debian/apt)
#   make build   release build: .build/release/veil
#   make run     build, then run veil (default 127.0.0.1:8080); flags for veil run in ARGS:
#                make run ARGS="--listen 127.0.0.1:9090 --mode passthrough"
#   make test    layer boundaries (.ci/boundaries.sh), unit tests (swift test), integration
#                tests against the release build, the wire proof in network namespaces
#                (integration/netns, writes docs/WIRE-PROOF.md), then the kTLS proof in a qemu VM
#                (make ktls-vm)
#   make install install the release binary, the man page and shell completions (generated from
#                the binary), the example config and the systemd unit: PREFIX (/usr/local),
#                DESTDIR, and BINDIR, MANDIR, DATADIR, SYSCONFDIR, UNITDIR below
#   make uninstall  remove what install put there (a config file that was edited stays)
#   make man     .build/dist/veil.1 (swift-argument-parser's generate-manual plugin)
#   make completions  .build/dist/veil.bash, _veil (zsh), veil.fish
#   make docs    write conf/veil.conf and README's settings tables from the settings' declarations
#                (Sources/VeilProxy/Settings); swift test fails when they are out of date
#   make bench   passthrough benchmark (bench/passthrough.sh)
#   make bench-intercept   intercept benchmark: veil vs Squid ssl-bump vs mitmproxy
#                (bench/intercept.sh; installs squid-openssl and mitmproxy itself)
#   make bench-peers   direct vs HAProxy 2.6 splice vs Squid CONNECT vs Veil pass-through and
#                intercept, one run, ratios (bench/peers.sh; installs haproxy and squid-openssl itself)
#   make bench-memory  RSS per idle connection and after a burst of 1000 downloads (bench/memory.sh)
#   make bench-relay-rtt  time to first byte through the relay, mux off and on, over a delayed link
#   make bench-ech   CPU per new connection with ECH accepted, --ech off and GREASE, one run,
#                ratios (bench/ech.sh; bssl-tool is in the deps)
#   make ktls-vm kTLS proof: static release build, then the tests in a qemu VM (integration/ktls-vm)
#   make clean   remove build output and test/bench scratch dirs
#
# Swift 6 is taken from PATH, else from SWIFT_DIR (default /opt/swift/usr/bin).

SHELL := /bin/bash

APT_PACKAGES := libssl-dev liburing-dev libcrypt-dev pkg-config curl openssl nginx-light \
                tshark socat python3 iproute2 unbound testssl.sh \
                systemd man-db groff-base zsh fish strace \
                ca-certificates libnss3-tools python3-requests python3-prometheus-client \
                apache2-utils chromium python3-venv android-boringssl python3-h2 \
                nghttp2-proxy squid

VEIL := .build/release/veil

# Swift: `swift` on PATH, else $(SWIFT_DIR)/swift. Recipes run with its directory first on PATH.
SWIFT_DIR ?= /opt/swift/usr/bin
SWIFT := $(or $(shell command -v swift 2>/dev/null),$(wildcard $(SWIFT_DIR)/swift))
ifneq ($(SWIFT),)
export PATH := $(patsubst %/,%,$(dir $(SWIFT))):$(PATH)
endif

# Where `make install` puts things (DESTDIR is prepended to each; nothing else is touched).
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
# systemd reads /usr/local/lib/systemd/system and /usr/lib/systemd/system; another PREFIX
# wants UNITDIR=/etc/systemd/system.
UNITDIR ?= $(PREFIX)/lib/systemd/system
DIST := .build/dist
# The man page's date: the last commit's, so that the page does not change with the day.
MAN_DATE := $(or $(shell git log -1 --format=%cs 2>/dev/null),$(shell date +%F))

# kTLS proof in a VM (integration/ktls-vm): qemu boots Debian's stock kernel (CONFIG_TLS=m).
# integration/ktls-vm/build.sh installs these itself when run as root.
APT_PACKAGES_VM := qemu-system-x86 busybox-static cpio kmod gcc libc6-dev linux-libc-dev binutils \
                   curl openssl nginx-light android-boringssl
VEIL_VM := .build-vm/release/veil

.PHONY: deps build run test bench bench-intercept bench-peers bench-memory bench-relay-rtt bench-ech clean swift-check man completions unit install uninstall docs

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

swift-check:
ifeq ($(SWIFT),)
	@echo "make: Swift 6 is needed, and 'swift' is neither on PATH nor in $(SWIFT_DIR)." >&2
	@echo "make: get the Swift 6 toolchain for Debian 12 from https://www.swift.org/install/linux/" >&2
	@echo "make: and unpack it so that $(SWIFT_DIR)/swift exists, or put its usr/bin on PATH," >&2
	@echo "make: or run make SWIFT_DIR=/path/to/toolchain/usr/bin" >&2
	@exit 1
else
	@true
endif

build: swift-check
	swift build -c release

run: deps build
	@echo
	@echo "veil run $(ARGS)"
	@echo "Unless ARGS say otherwise, veil listens on 127.0.0.1:8080 and intercepts TLS with its own CA"
	@echo "(created on first run in \$${VEIL_HOME:-~/.veil}). Point curl at it, e.g.:"
	@echo "    curl -x http://127.0.0.1:8080 --cacert \"\$$($(VEIL) ca path)\" https://example.com/"
	@echo "Names are resolved over DoH (https://1.1.1.1/dns-query); see README for other resolvers."
	@echo
	exec $(VEIL) run $(ARGS)

# The man page, generated from the command definitions by swift-argument-parser's
# generate-manual plugin (it builds the tool, then runs veil --experimental-dump-help).
# dist/mdoc-fixup.awk turns the discussions' blank lines and indented examples into mdoc.
man: build
	@mkdir -p $(DIST)
	swift package plugin generate-manual --date $(MAN_DATE) >$(DIST)/man.log 2>&1 || { cat $(DIST)/man.log; exit 1; }
	awk -f dist/mdoc-fixup.awk .build/plugins/GenerateManual/outputs/VeilCLI/veil.1 >$(DIST)/veil.1

completions: build
	@mkdir -p $(DIST)
	$(VEIL) --generate-completion-script bash >$(DIST)/veil.bash
	$(VEIL) --generate-completion-script zsh >$(DIST)/_veil
	$(VEIL) --generate-completion-script fish >$(DIST)/veil.fish

# conf/veil.conf and README's tables, written by the test that checks them.
docs: swift-check
	VEIL_WRITE_DOCS=1 swift test --filter SettingsDocumentTests

unit:
	@mkdir -p $(DIST)
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' dist/veil.service.in >$(DIST)/veil.service

# The config is installed only where there is none, or the one there is the example unchanged.
install: build man completions unit
	install -Dm755 $(VEIL) $(DESTDIR)$(BINDIR)/veil
	install -Dm644 $(DIST)/veil.1 $(DESTDIR)$(MANDIR)/man1/veil.1
	install -Dm644 $(DIST)/veil.bash $(DESTDIR)$(DATADIR)/bash-completion/completions/veil
	install -Dm644 $(DIST)/_veil $(DESTDIR)$(DATADIR)/zsh/site-functions/_veil
	install -Dm644 $(DIST)/veil.fish $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/veil.fish
	install -Dm644 conf/veil.conf $(DESTDIR)$(DATADIR)/doc/veil/veil.conf.example
	install -Dm644 $(DIST)/veil.service $(DESTDIR)$(UNITDIR)/veil.service
	@conf=$(DESTDIR)$(SYSCONFDIR)/veil/veil.conf; \
	if [ -e "$$conf" ] && ! cmp -s "$$conf" conf/veil.conf; then \
	  echo "install: $$conf exists and was edited: kept (the example is $(DATADIR)/doc/veil/veil.conf.example)"; \
	else \
	  install -Dm644 conf/veil.conf "$$conf" && echo "install: $$conf"; \
	fi
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then \
	  echo "install: run it as a service: systemctl daemon-reload && systemctl enable --now veil"; \
	fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/veil $(DESTDIR)$(MANDIR)/man1/veil.1 \
	      $(DESTDIR)$(DATADIR)/bash-completion/completions/veil \
	      $(DESTDIR)$(DATADIR)/zsh/site-functions/_veil \
	      $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/veil.fish \
	      $(DESTDIR)$(DATADIR)/doc/veil/veil.conf.example \
	      $(DESTDIR)$(UNITDIR)/veil.service
	-rmdir $(DESTDIR)$(DATADIR)/doc/veil 2>/dev/null
	@conf=$(DESTDIR)$(SYSCONFDIR)/veil/veil.conf; \
	if [ -e "$$conf" ] && ! cmp -s "$$conf" conf/veil.conf; then \
	  echo "uninstall: $$conf was edited: kept"; \
	else \
	  rm -f "$$conf"; rmdir "$(DESTDIR)$(SYSCONFDIR)/veil" 2>/dev/null || true; \
	fi

test: deps build
	.ci/boundaries.sh
	swift test
	VEIL_BIN=$(CURDIR)/$(VEIL) integration/run-all.sh
	VEIL_BIN=$(CURDIR)/$(VEIL) integration/netns/run.sh
	$(MAKE) ktls-vm

bench: deps build
	VEIL_BIN=$(CURDIR)/$(VEIL) bench/passthrough.sh

bench-intercept: deps build
	VEIL_BIN=$(CURDIR)/$(VEIL) bench/intercept.sh

bench-peers: deps build
	VEIL_BIN=$(CURDIR)/$(VEIL) bench/peers.sh

bench-memory: deps build
	VEIL_BIN=$(CURDIR)/$(VEIL) bench/memory.sh

bench-relay-rtt: deps build
	VEIL_BIN=$(CURDIR)/$(VEIL) bench/relay-rtt.sh

bench-ech: deps build
	VEIL_BIN=$(CURDIR)/$(VEIL) bench/ech.sh

clean:
	rm -rf .build .build-vm integration/.work bench/.work

.PHONY: ktls-vm
ktls-vm: swift-check
	swift build -c release --static-swift-stdlib --scratch-path .build-vm
	KTLS_VM_PACKAGES="$(APT_PACKAGES_VM)" VEIL_VM_BIN=$(CURDIR)/$(VEIL_VM) integration/ktls-vm/run.sh
