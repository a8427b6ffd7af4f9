# drydock: an end-to-end regression harness for container auto-updaters.
GO ?= go
# testcontainers-go's reaper image cannot be pulled here; drydock removes
# what it makes itself (labels, cleanup, prune).
export TESTCONTAINERS_RYUK_DISABLED := true

BIN := bin/drydock

.PHONY: all build images scenarios test vet leftovers clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/drydock

# Build (or find cached) every fixture image; a second run builds nothing.
images: build
	$(BIN) images build

# The scenario suite against the default updater and the reference
# updater, with a readable summary.
scenarios: build images
	$(BIN) run

# Every test: unit, fuzz seeds, real-engine tests and the scenarios.
# The scenarios run after the other packages, not beside them: an updater
# without tolerates-engine-churn (watchtower v1.7.1) fails when containers
# elsewhere on the engine come and go during its scan.
test: vet images
	$(GO) test -count=1 -timeout 30m $$($(GO) list ./... | grep -v /scenarios$$)
	$(GO) test -count=1 -timeout 30m ./scenarios
	$(MAKE) --no-print-directory leftovers

vet:
	$(GO) vet ./...

# Nothing drydock made may outlive the tests.
leftovers:
	@n=$$(docker ps -aq --filter label=io.drydock.sandbox | wc -l); \
	m=$$(docker network ls -q --filter label=io.drydock.sandbox | wc -l); \
	if [ "$$n" != 0 ] || [ "$$m" != 0 ]; then \
		echo "leftovers: $$n container(s), $$m network(s) labelled io.drydock.sandbox:"; \
		docker ps -a --filter label=io.drydock.sandbox; exit 1; \
	else echo "leftovers: none"; fi

clean:
	rm -rf bin
