# jail: one static binary, bin/jail. `make test` is what CI runs.
GO        ?= go
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
# libseccomp is linked statically (libseccomp-dev ships libseccomp.a), so
# the release binary is one file with no run-time dependencies.
STATIC    = -tags 'osusergo netgo' -trimpath \
            -ldflags '-X main.version=$(VERSION) -linkmode external -extldflags "-static"'

.PHONY: all build test unit integration bench vet fmt clean

all: build

build:
	CGO_ENABLED=1 $(GO) build $(STATIC) -o bin/jail ./cmd/jail

vet:
	$(GO) vet ./...

test: build vet
	JAIL_BIN=$(CURDIR)/bin/jail $(GO) test -count=1 ./...

bench: build
	JAIL_BIN=$(CURDIR)/bin/jail $(GO) test -run '^$$' -bench . -benchtime 200x ./bench/

clean:
	rm -rf bin
