# seatrial: an end-to-end regression harness for container auto-updaters.
GO ?= go
# testcontainers-go's reaper image cannot be pulled here; seatrial removes
# what it makes itself (labels, cleanup, prune).
export TESTCONTAINERS_RYUK_DISABLED := true

BIN := bin/seatrial

.PHONY: all build images scenarios test test-no-engine test-packages vet leftovers clean

all: build

# Built as the fixture images' binaries are (static, -trimpath): a cold
# `make images` then compiles the standard library and the shared
# dependencies once, not once for the CLI and again for the images.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -o $(BIN) ./cmd/seatrial

# Build (or find cached) every fixture image; a second run builds nothing.
images: build
	$(BIN) images build

# The scenario suite against every shipped profile (watchtower v1.7.1,
# the reference updater and the maintained forks), with a readable
# summary. A fork's image is never built or pulled here: where it is
# absent, its scenarios are skipped with the reason and how to provide it.
scenarios: build images
	$(BIN) run --profile all

# Every test: unit, fuzz seeds, real-engine tests and the scenarios, then
# nothing seatrial made may be left on the engine.
test: vet test-no-engine images
	@$(MAKE) --no-print-directory test-packages
	@$(MAKE) --no-print-directory leftovers

# The packages test-packages runs: every package of the module unless
# given (PKGS=./harness). GOFLAGS reaches go list and go test alike.
PKGS ?= $(shell $(GO) list ./...)

# One package at a time.
#
# Each package's go test runs under bin/leftovers, which fails it if it
# left seatrial objects behind (containers, networks, volumes, images
# pulled from its sandboxes' registries, state dirs), naming the package.
# That check must come after each package and before the next: the next
# package's sandboxes prune dead owners' leftovers when they start, and a
# leak would go unseen. The loop goes on after a failure, as go test does,
# and names every failed package at the end.
test-packages: bin/leftovers
	@failed=; for p in $(PKGS); do \
		bin/leftovers -name $$p -- $(GO) test -p 1 -count=1 -timeout 45m $$p || failed="$$failed $$p"; \
	done; \
	if [ -n "$$failed" ]; then echo "FAIL (tests failed or left objects behind):$$failed"; exit 1; fi

.PHONY: bin/leftovers
bin/leftovers:
	$(GO) build -o $@ ./internal/leftovers

vet:
	$(GO) vet ./...

# The unit tests pass on a machine with no Docker engine: every test that
# needs one skips under -short with the reason (internal/testenv). Run
# against an engine address that cannot answer, so a test that forgot to
# say it needs the engine fails here rather than on a user's laptop.
test-no-engine:
	DOCKER_HOST=unix:///nonexistent $(GO) test -short -count=1 ./...

# Nothing seatrial made may outlive the tests, whoever made it.
leftovers:
	@n=$$(docker ps -aq --filter label=io.seatrial.sandbox | wc -l); \
	m=$$(docker network ls -q --filter label=io.seatrial.sandbox | wc -l); \
	v=$$(docker volume ls -q --filter label=io.seatrial.sandbox | wc -l); \
	if [ "$$n" != 0 ] || [ "$$m" != 0 ] || [ "$$v" != 0 ]; then \
		echo "leftovers: $$n container(s), $$m network(s), $$v volume(s) labelled io.seatrial.sandbox:"; \
		docker ps -a --filter label=io.seatrial.sandbox; \
		docker network ls --filter label=io.seatrial.sandbox; exit 1; \
	else echo "leftovers: none"; fi

clean:
	rm -rf bin
