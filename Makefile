# make test: every check CI runs. make bench: the performance numbers.
GO ?= go
# Fuzz budgets are execution counts, not durations: a duration races the
# fuzz coordinator's deadline in Go 1.26 and fails with "context deadline
# exceeded" having found nothing (golang/go#75804, fixed in Go 1.27).
FUZZ_HEADER ?= 150000x
FUZZ_ADDRESS ?= 100000x
FUZZ_WEBHOOK ?= 50000x
FUZZ_PRINCIPAL ?= 100000x
FUZZ_CONFIG_ENV ?= 10000x

.PHONY: all build install test fmt vet staticcheck unit fuzz bench run clean

all: build

# A static binary: no libc to load, so every start (each `wirebot brain`
# call from a script is one) is about a millisecond faster. grpcnotrace
# leaves out gRPC's tracing (golang.org/x/net/trace), which the etcd
# client would otherwise bring in.
# Stripped (-s -w) and stamped with the version, commit and date from git:
# the build info alone carries no VCS stamp where GOFLAGS=-buildvcs=false.
BIN ?= wirebot
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS = -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -tags grpcnotrace -ldflags='$(LDFLAGS)' -o $(BIN) .

# make install [DESTDIR=/tmp/pkg] [PREFIX=/usr/local]: the binary, the
# systemd unit, the example scripts and, unless one is there, the example
# config as /etc/wirebot/config.yaml.
PREFIX ?= /usr/local
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/wirebot
	install -d -m 0755 $(DESTDIR)/etc/systemd/system $(DESTDIR)/etc/wirebot/scripts
	sed 's|/usr/local/bin/wirebot|$(PREFIX)/bin/wirebot|g' deploy/wirebot.service >$(DESTDIR)/etc/systemd/system/wirebot.service
	chmod 0644 $(DESTDIR)/etc/systemd/system/wirebot.service
	install -d -m 0700 $(DESTDIR)/etc/wirebot/credentials
	cp -p scripts/* $(DESTDIR)/etc/wirebot/scripts/
	test -e $(DESTDIR)/etc/wirebot/config.yaml || sed 's|^scripts_dir: .*|scripts_dir: /etc/wirebot/scripts|' config.example.yaml >$(DESTDIR)/etc/wirebot/config.yaml

test: fmt vet staticcheck unit fuzz

fmt:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) tool staticcheck ./...

unit:
	$(GO) test -race -count=1 ./...

# Seeded fuzz targets, run briefly (a few seconds each); their seeds also run
# in every `go test`.
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzParseHeader$$' -fuzztime=$(FUZZ_HEADER) ./handlers
	$(GO) test -run='^$$' -fuzz='^FuzzAddress$$' -fuzztime=$(FUZZ_ADDRESS) ./bot
	$(GO) test -run='^$$' -fuzz='^FuzzPrincipal$$' -fuzztime=$(FUZZ_PRINCIPAL) ./bot
	$(GO) test -run='^$$' -fuzz='^FuzzWebhookRequest$$' -fuzztime=$(FUZZ_WEBHOOK) ./bot/web
	$(GO) test -run='^$$' -fuzz='^FuzzConfigFromVariables$$' -fuzztime=$(FUZZ_CONFIG_ENV) .

bench: build
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 ./bot ./handlers ./bot/events
	$(GO) test -run='^$$' -bench='^Benchmark[^V]' -benchtime=20x -count=1 .
	# The shell adapter against a bash read loop in the same run, medians of
	# 5 fresh starts (issue 15); the second waits a minute after the bursts.
	# They drive the binary as shipped (make build: static, stripped), whose
	# memory is what users see; WIREBOT_BENCH_BINARY=path drives another.
	WIREBOT_BENCH_BINARY=$${WIREBOT_BENCH_BINARY:-$(CURDIR)/$(BIN)} $(GO) test -run='^$$' -bench='^BenchmarkVsFloor$$' -benchtime=5x -count=1 .
	WIREBOT_BENCH_BINARY=$${WIREBOT_BENCH_BINARY:-$(CURDIR)/$(BIN)} $(GO) test -run='^$$' -bench='^BenchmarkVsFloorRSSAfterBursts$$' -benchtime=1x -count=1 .

run:
	$(GO) run .

clean:
	rm -f wirebot wirebot.db
