# xdpvs — see README.md. Every target is `name: ## description`; `make` alone lists them.

GO      ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
BIN     := bin
PKGS    := ./...
# Debian packages the tests, the demo and `make generate` use (nftables: the SYN flood test counts
# the real servers' SYNs with it; bird2: the router of the several-directors tests, BGP and OSPF;
# nginx-light: the PROXY protocol test's real server; keepalived: the active/standby tests' VRRP).
DEBS    := iproute2 ethtool nftables bird2 nginx-light keepalived
GENDEBS := clang llvm libbpf-dev
# What `make bench` compares xdpvs with (nftables DNAT, HAProxy) and pins processes with (taskset).
BENCHDEBS := nftables haproxy util-linux
# How long `make fuzz` runs each fuzz target.
FUZZTIME ?= 10s
# Where `make install` puts things (DESTDIR is prepended to each, for packaging and tests).
PREFIX      ?= /usr/local
SBINDIR     ?= $(PREFIX)/sbin
SYSCONFDIR  ?= /etc
UNITDIR     ?= $(PREFIX)/lib/systemd/system
MANDIR      ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
# The binaries installed: the daemon, the admin tool and the real-server agent.
INSTALL_BINS := xdpvsd xdpvsadm xdpvs-rs
# What tells systemd about the new unit after an install without DESTDIR (the tests set it to true).
SYSTEMCTL   ?= systemctl
# The manual pages, generated from the option tables (TestManual in cmd/xdpvsd and mgmt/cli checks them).
MANPAGES := docs/man/xdpvsd.8 docs/man/xdpvsadm.8

.DEFAULT_GOAL := help
.PHONY: help deps build install uninstall generate test test-short fuzz bench lint demo clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

deps: ## install what building and testing need (Debian packages via apt-get, Go modules)
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "apt-get install$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	$(GO) mod download

build: ## build xdpvsd, xdpvsadm and the tools into bin/
	$(GO) build -o $(BIN)/ ./cmd/...

install: build ## install the binaries, xdpvsd.service, the manual pages, bash completion, /etc/default/xdpvsd, an empty /etc/xdpvs/xdpvs.conf (PREFIX=/usr/local, DESTDIR); existing files in /etc are kept
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/default $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(BASHCOMPDIR)
	install -d -m 0700 $(DESTDIR)$(SYSCONFDIR)/xdpvs
	install -m 0755 $(addprefix $(BIN)/,$(INSTALL_BINS)) $(DESTDIR)$(SBINDIR)/
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' packaging/xdpvsd.service.in > $(DESTDIR)$(UNITDIR)/xdpvsd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/xdpvsd.service
	install -m 0644 $(MANPAGES) $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 packaging/xdpvsadm.bash $(DESTDIR)$(BASHCOMPDIR)/xdpvsadm
	[ -e $(DESTDIR)$(SYSCONFDIR)/default/xdpvsd ] || install -m 0644 packaging/xdpvsd.default $(DESTDIR)$(SYSCONFDIR)/default/xdpvsd
	[ -e $(DESTDIR)$(SYSCONFDIR)/xdpvs/xdpvs.conf ] || install -m 0600 /dev/null $(DESTDIR)$(SYSCONFDIR)/xdpvs/xdpvs.conf
	@[ -n "$(DESTDIR)" ] || ! command -v $(SYSTEMCTL) >/dev/null || $(SYSTEMCTL) daemon-reload 2>/dev/null || true

uninstall: ## remove what `make install` put in place, but the configuration (/etc/xdpvs, /etc/default/xdpvsd)
	rm -f $(addprefix $(DESTDIR)$(SBINDIR)/,$(INSTALL_BINS)) $(DESTDIR)$(UNITDIR)/xdpvsd.service
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(MANPAGES))) $(DESTDIR)$(BASHCOMPDIR)/xdpvsadm
	@[ -n "$(DESTDIR)" ] || ! command -v $(SYSTEMCTL) >/dev/null || $(SYSTEMCTL) daemon-reload 2>/dev/null || true
	@echo "kept: $(DESTDIR)$(SYSCONFDIR)/xdpvs/ and $(DESTDIR)$(SYSCONFDIR)/default/xdpvsd (remove them by hand to purge)"

generate: ## regenerate the BPF objects (bpf2go; needs clang) and check nothing else changed
	@for p in $(GENDEBS); do dpkg -s $$p >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(GENDEBS) >/dev/null; break; }; done
	$(GO) generate ./...
	git diff --exit-code -- '*.go' '*.o'

test: deps ## every test, as root: unit, fuzz seeds, end to end in network namespaces (race detector on; the allocation tests again without it)
	@[ "$$(id -u)" = 0 ] || { echo "make test needs root (network namespaces, XDP, AF_XDP); tests that need it would skip"; exit 1; }
	$(GO) vet $(PKGS)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		[ -z "$$unformatted" ] || { echo "gofmt needed: $$unformatted"; exit 1; }
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	@# The race detector's instrumentation allocates, so the zero-allocation tests (every test with
	@# Alloc in its name) skip under -race: this pass runs them without it, in the packages that have
	@# them; -v, filtered to the top-level results, shows that they ran.
	@pkgs=$$(grep -rl --include='*_test.go' '^func Test[A-Za-z0-9_]*Alloc' . | xargs -n1 dirname | sort -u); \
	echo "$(GO) test -count=1 -run Alloc -v" $$pkgs; \
	out=$$($(GO) test -count=1 -run Alloc -v $$pkgs 2>&1); rc=$$?; \
	printf '%s\n' "$$out" | grep -E '^(--- |\s+--- FAIL|ok|FAIL|panic|\s+\S+_test\.go:)'; exit $$rc
	$(GO) test -count=1 -run '^$$' -bench . -benchtime=1x $(PKGS) >/dev/null

test-short: ## unit tests only, no root needed
	$(GO) test -short -count=1 $(PKGS)

fuzz: ## run every fuzz target (each `func Fuzz...` of every package) for FUZZTIME (10s) each
	@targets=$$(grep -r --include='*_test.go' -o '^func Fuzz[A-Za-z0-9_]*' . | sed 's|/[^/]*:func |:|' | sort); \
	[ -n "$$targets" ] || { echo "no fuzz targets found"; exit 1; }; \
	for t in $$targets; do \
		echo "$(GO) test -run '^\$$' -fuzz '^$${t#*:}\$$' -fuzztime $(FUZZTIME) $${t%%:*}"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZTIME) $${t%%:*} || exit 1; \
	done

bench: ## side-by-side benchmark (xdpvs NAT/DR/FULLNAT, bare AF_XDP, nftables, HAProxy; pps, NDR/PDR, latency, cps) into bench/results/ (root; QUICK=1 for a short run)
	@[ "$$(id -u)" = 0 ] || { echo "make bench needs root (network namespaces, XDP, AF_XDP)"; exit 1; }
	@missing=""; for p in $(DEBS) $(BENCHDEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "apt-get install$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@# HAProxy is run by the benchmark itself, in a namespace; the distribution's service stays off.
	@if command -v systemctl >/dev/null 2>&1 && systemctl is-active -q haproxy 2>/dev/null; then echo "note: the haproxy service is running; the benchmark uses its own instance"; fi
	$(if $(BENCH_MICRO),$(GO) test -run '^$$' -bench . -benchmem ./header/ ./conntrack/ ./dataplane/)
	XDPVS_BENCH=1 $(if $(QUICK),XDPVS_BENCH_QUICK=1) $(GO) test -count=1 -run '^(TestLB|TestSynProxyRate|TestLoop)$$' -v -timeout 50m ./bench/
	@echo "results: bench/results/bench.md, bench/results/bench.png, bench/results/bench.json"

lint: ## gofmt, go vet, staticcheck, dead code (deadcode -test) and the package-arrow tests
	@test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)
	@# Test code counts as a user (the test helpers in internal/ have no other); deadcode prints
	@# what nothing reaches and exits 0 either way.
	@echo "$(GO) tool deadcode -test $(PKGS)"; dead=$$($(GO) tool deadcode -test $(PKGS)) || exit 1; \
		[ -z "$$dead" ] || { printf '%s\n' "$$dead"; echo "dead code: delete it, or use it"; exit 1; }
	$(GO) test -count=1 ./internal/archtest/

demo: deps build ## run xdpvs on a namespace topology it builds (client, director, two real servers), then remove it (root)
	@[ "$$(id -u)" = 0 ] || { echo "make demo needs root (network namespaces, XDP)"; exit 1; }
	$(BIN)/xdpvs-demo --bin $(BIN)

clean: ## remove build output
	rm -rf $(BIN)
