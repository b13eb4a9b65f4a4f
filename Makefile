# jail: one static binary, bin/jail. `make test` is what CI runs.
GO        ?= go
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
# libseccomp is linked statically (libseccomp-dev ships libseccomp.a), so
# the release binary is one file with no run-time dependencies.
STATIC    = -tags 'osusergo netgo' -trimpath \
            -ldflags '-X main.version=$(VERSION) -linkmode external -extldflags "-static"'

# sudo's secure_path drops /usr/local/go/bin, where Go is installed by hand
# on Debian and Ubuntu (their packaged Go is too old for go.mod).
ifeq ($(shell command -v $(GO) 2>/dev/null),)
ifneq ($(wildcard /usr/local/go/bin/go),)
export PATH := /usr/local/go/bin:$(PATH)
endif
endif

.PHONY: all build test unit fuzz bench bench-stages bench-vm bench-all vet clean demo kube-profiles

all: build

# go generate precompiles the built-in seccomp policies into the binary.
build:
	cd seccomp && CGO_ENABLED=1 $(GO) generate .
	CGO_ENABLED=1 $(GO) build $(STATIC) -o bin/jail ./cmd/jail

# kube-profiles writes the seccomp profile of a pod that runs jail, which
# deploy/kubernetes installs on the nodes; a test fails when the checked-in
# copy drifts from the policies.
kube-profiles: build
	bin/jail kube seccomp-profile > deploy/kubernetes/profiles/seccomp.json

vet:
	$(GO) vet ./...
	cd deploy && $(GO) vet ./...

# test is everything CI runs: unit and rootless integration tests, then the
# VM lane (cgroup v2 and systemd guests under qemu). deploy/ is a module of
# its own (the Kubernetes manifests' tests and their dependencies).
test: unit vmtest

# unit runs every package under the race detector: the native launcher
# hands its timestamps and the init's end between goroutines and locked
# threads, and the sandbox tests run it in process, where -race sees both
# sides. The cmd/jail tests exec bin/jail, built without -race, so there it
# covers only the test code, and costs next to nothing, because their time
# is jail's own runs; so no package is left out. Measured on 2 shared vCPUs
# with a warm build cache, the go test step took 62 s without -race and
# 62 s with (cmd/jail 56 s and 55 s); a cold cache adds about a minute to
# build the packages instrumented. -race needs cgo.
unit: build vet
	JAIL_BIN=$(CURDIR)/bin/jail CGO_ENABLED=1 $(GO) test -race -count=1 ./...
	cd deploy && $(GO) test -count=1 ./...

# fuzz runs each fuzz target briefly, for a number of inputs rather than a
# time: a time budget that ends during minimisation makes go test report
# "context deadline exceeded" as a failure. FUZZTIME=10m for a longer hunt.
FUZZTIME ?= 100000x
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

# BENCHTIME is runs per benchmark (rounds for the side-by-side one);
# BENCHCOUNT=6 or more gives benchstat enough samples to compare builds.
BENCHTIME  ?= 200x
BENCHCOUNT ?= 1
# JUDGE_BENCHTIME is rounds of BenchmarkJudge, which judges a C++ task of
# 10 and 100 tests against jail run per test; a round compiles the
# solution 22 times and takes about 15 s, so it does not take BENCHTIME.
JUDGE_BENCHTIME ?= 3x
# SERVE_BENCHTIME is repetitions of BenchmarkServe, whose one run already
# sends a few hundred tasks per workload (about a minute), so it does not
# take BENCHTIME either.
SERVE_BENCHTIME ?= 1x

# bench prints three markdown tables: jail, jail with cgroup limits, bwrap
# and fork+exec side by side for /bin/true, a static hello world and
# python3; then jail judge against jail run per test (about a minute more);
# then jail serve over loopback against a jail process per task, with one
# and two clients (about a minute more).
# bench-stages breaks a run down (from the inside and by differences of
# whole commands); bench-all also measures how well limits are enforced.
bench: build
	@echo "bench: $$(nproc) CPUs, $$(uname -r), $$($(GO) version), uid $$(id -u)"
	@command -v bwrap >/dev/null || echo "bench: bwrap is not installed (apt-get install bubblewrap); no bwrap column"
	@out=$$(mktemp); JAIL_BIN=$(CURDIR)/bin/jail $(GO) test -run '^$$' -bench '^BenchmarkSideBySide$$' \
		-benchtime $(BENCHTIME) -count $(BENCHCOUNT) -timeout 30m ./bench/ >$$out 2>&1 && \
		JAIL_BIN=$(CURDIR)/bin/jail $(GO) test -run '^$$' -bench '^BenchmarkJudge$$' \
		-benchtime $(JUDGE_BENCHTIME) -count $(BENCHCOUNT) -timeout 30m ./bench/ >>$$out 2>&1 && \
		JAIL_BIN=$(CURDIR)/bin/jail $(GO) test -run '^$$' -bench '^BenchmarkServe$$' \
		-benchtime $(SERVE_BENCHTIME) -count $(BENCHCOUNT) -timeout 30m ./bench/ >>$$out 2>&1; rc=$$?; \
		grep -v '^Benchmark\|^goos\|^goarch\|^pkg\|^cpu\|^PASS\|^ok' $$out; rm -f $$out; exit $$rc

bench-stages: build
	JAIL_BIN=$(CURDIR)/bin/jail $(GO) test -run '^$$' -bench 'Stages' -benchtime $(BENCHTIME) \
		-count $(BENCHCOUNT) -timeout 30m ./bench/
	$(GO) test -run '^$$' -bench '^BenchmarkLoad$$' -benchtime 200x -count $(BENCHCOUNT) ./seccomp/

# bench-vm: what cgroup limits add to a run where an ordinary user has
# them, in the cgroup v2 guest of the VM lane (boots qemu once).
bench-vm: build
	bash limits/vmtest/guest.sh build
	JAIL_VMTEST=1 JAIL_BIN=$(CURDIR)/bin/jail $(GO) test -run '^$$' -bench VMLimitsCost -benchtime 1x -timeout 30m ./limits/vmtest

bench-all: build
	JAIL_BIN=$(CURDIR)/bin/jail $(GO) test -run '^$$' -bench . -skip '^Benchmark(Judge|Serve)$$' \
		-benchtime $(BENCHTIME) -count $(BENCHCOUNT) -timeout 30m ./bench/
	JAIL_BIN=$(CURDIR)/bin/jail $(GO) test -run '^$$' -bench '^BenchmarkJudge$$' \
		-benchtime $(JUDGE_BENCHTIME) -count $(BENCHCOUNT) -timeout 30m ./bench/
	JAIL_BIN=$(CURDIR)/bin/jail $(GO) test -run '^$$' -bench '^BenchmarkServe$$' \
		-benchtime $(SERVE_BENCHTIME) -count $(BENCHCOUNT) -timeout 30m ./bench/

# demo shows jail working on a fresh Debian/Ubuntu machine: as root, or as a
# user who may sudo. It installs what the build needs, then runs a program
# as the ordinary user $(DEMO_USER), from a copy of bin/jail in a temporary
# directory that user can reach (the checkout may be in a private home).
DEMO_USER ?= jaildemo
DEMO_DEPS  = libseccomp-dev gcc make python3
DEMO_PY    = import os,socket; print("hello from", socket.gethostname(), "pid", os.getpid(), "uid", os.getuid())
SUDO       = $(if $(filter 0,$(shell id -u)),,sudo)

demo:
	@missing=""; for p in $(DEMO_DEPS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "demo: installing$$missing"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@command -v $(GO) >/dev/null || { echo "demo: Go is not installed; put Go 1.26 or newer in /usr/local/go (https://go.dev/dl/)" >&2; exit 1; }
	$(MAKE) --no-print-directory build
	@id -u $(DEMO_USER) >/dev/null 2>&1 || { echo "demo: creating the user $(DEMO_USER)"; $(SUDO) useradd --no-create-home --shell /usr/sbin/nologin $(DEMO_USER); }
	@# On a systemd machine, a lingering user gets a user manager, which
	@# delegates the cgroup that enforces --mem and --cpu.
	@if [ -d /run/systemd/system ]; then \
		$(SUDO) loginctl enable-linger $(DEMO_USER) && \
		for i in $$(seq 50); do [ -S /run/user/$$(id -u $(DEMO_USER))/bus ] && break; sleep 0.1; done; \
	fi
	@dir=$$(mktemp -d /tmp/jaildemo.XXXXXX) && chmod 755 "$$dir" && \
	cp bin/jail "$$dir/jail" && chmod 755 "$$dir/jail" && \
	echo "+ runuser -u $(DEMO_USER) -- $$dir/jail run --verbose --mem 100M --cpu 10% -- python3 -c '$(subst ",\",$(DEMO_PY))'" && \
	$(SUDO) runuser -u $(DEMO_USER) -- "$$dir/jail" run --verbose --mem 100M --cpu 10% -- python3 -c '$(DEMO_PY)'; \
	status=$$?; rm -rf "$$dir"; exit $$status

clean:
	rm -rf bin

# vmtest boots qemu (TCG) guests, a bare cgroup v2 machine and a systemd one
# with a lingering user, and runs jail's limit tests in them. The first run
# installs qemu and fetches Debian's kernel into .cache/vm (JAIL_VM_CACHE).
.PHONY: vmtest
vmtest: build
	bash limits/vmtest/guest.sh build
	JAIL_VMTEST=1 JAIL_BIN=$(CURDIR)/bin/jail $(GO) test -count=1 -v -timeout 20m ./limits/vmtest
