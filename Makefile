# Junction. `make run` starts a router on the embedded default config;
# `make test` installs what the tests need (once) and runs every test.

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
NODE_DIR  := router/testdata/node
APT_PKGS  := mosquitto mosquitto-clients redis-server haproxy python3-autobahn python3-msgpack python3-cbor2 python3-nacl
BENCHTIME ?= 3s

.PHONY: build run test deps deps-apt deps-node deps-browser bench bench-compare fuzz lint clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/junction ./cmd/junction

run: build
	./bin/junction serve

# deps installs the real clients (and the real redis-server, with redis-cli,
# and haproxy, for federation and examples/cluster; and Chromium, for the
# chat example's browser test) the tests drive, skipping what is there.
deps: deps-apt deps-node deps-browser

deps-apt:
	@missing=""; \
	command -v mosquitto_pub >/dev/null || missing="$$missing mosquitto-clients"; \
	command -v mosquitto >/dev/null || missing="$$missing mosquitto"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing="$$missing haproxy"; \
	/usr/bin/python3 -c 'import autobahn, msgpack, cbor2, nacl' 2>/dev/null || missing="$$missing python3-autobahn python3-msgpack python3-cbor2 python3-nacl"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# The Node clients; also the browser bundles examples/chat/web/vendor links to.
deps-node:
	@if [ ! -d $(NODE_DIR)/node_modules/mqtt ] || [ ! -d $(NODE_DIR)/node_modules/autobahn ] || \
		[ ! -d $(NODE_DIR)/node_modules/autobahn-browser ]; then \
		cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error; \
	fi

# Debian's Chromium, which router/chat_browser_test.go drives headless.
deps-browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "installing: chromium"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	fi

test: deps
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

# Fuzz each target for FUZZTIME (the seed corpus also runs in `make test`).
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./wamp -run '^$$' -fuzz FuzzGuard -fuzztime $(FUZZTIME)
	$(GO) test ./router -run '^$$' -fuzz FuzzConfig -fuzztime $(FUZZTIME)
	JUNCTION_FUZZ_CRASH_DIR=$${TMPDIR:-/tmp} $(GO) test ./router -run '^$$' -fuzz '^FuzzStream$$' -fuzztime $(FUZZTIME)
	JUNCTION_FUZZ_CRASH_DIR=$${TMPDIR:-/tmp} $(GO) test ./router -run '^$$' -fuzz '^FuzzStreamSecure$$' -fuzztime $(FUZZTIME)
	$(GO) test ./mqtt -run '^$$' -fuzz FuzzPacketDecode -fuzztime $(FUZZTIME)
	$(GO) test ./bridge/topic -run '^$$' -fuzz FuzzTopicRoundTrip -fuzztime $(FUZZTIME)
	$(GO) test ./bridge/topic -run '^$$' -fuzz FuzzWildcard -fuzztime $(FUZZTIME)
	$(GO) test ./bridge/topic -run '^$$' -fuzz FuzzFilterMatches -fuzztime $(FUZZTIME)
	$(GO) test ./bridge -run '^$$' -fuzz FuzzFromMQTT -fuzztime $(FUZZTIME)
	$(GO) test ./bridge -run '^$$' -fuzz FuzzRoundTrip -fuzztime $(FUZZTIME)
	$(GO) test ./bridge -run '^$$' -fuzz FuzzMapper -fuzztime $(FUZZTIME)
	$(GO) test ./bridge -run '^$$' -fuzz FuzzRPCMessages -fuzztime $(FUZZTIME)
	$(GO) test ./bridge -run '^$$' -fuzz FuzzWire -fuzztime $(FUZZTIME)
	$(GO) test ./bridge -run '^$$' -fuzz FuzzRPCWire -fuzztime $(FUZZTIME)
	$(GO) test ./bridge -run '^$$' -fuzz FuzzShareWire -fuzztime $(FUZZTIME)
	$(GO) test ./bridge -run '^$$' -fuzz FuzzSessionWire -fuzztime $(FUZZTIME)
	$(GO) test ./bridge/federation -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME)
	$(GO) test ./bridge/federation -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./bridge/federation -run '^$$' -fuzz FuzzIndexMatch -fuzztime $(FUZZTIME)

# IDLECONNS: connections held by BenchmarkIdleConnections (one op is one connection).
IDLECONNS ?= 5000
bench: deps
	$(GO) test ./router -run '^$$' -bench . -skip IdleConnections -benchtime $(BENCHTIME) -count 1 -timeout 30m
	$(GO) test ./router -run '^$$' -bench IdleConnections -benchtime $(IDLECONNS)x -count 1 -timeout 30m
	$(GO) test ./bridge/federation -run '^$$' -bench . -benchtime $(BENCHTIME) -count 1 -timeout 30m

# bench-compare runs `junction bench`'s scenarios against Junction, mosquitto,
# a bare mochi and a bare nexus, one after the other, and writes
# docs/benchmarks.md and its charts (docs/benchmarks/*.svg). About 3½ minutes
# with the default BENCH_DURATION (sending time per scenario and target).
BENCH_DURATION ?= 5s
bench-compare: build deps-apt
	$(GO) run ./cmd/junction/bench/compare -junction bin/junction -out docs -duration $(BENCH_DURATION)

lint:
	@test -z "$$(gofmt -l .)" || (gofmt -l . && exit 1)
	$(GO) vet ./...

clean:
	rm -rf bin $(NODE_DIR)/node_modules
