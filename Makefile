# make test: every check CI runs. make bench: the performance numbers.
GO ?= go
FUZZTIME ?= 10s

.PHONY: all build test fmt vet staticcheck unit fuzz bench run clean

all: build

build:
	$(GO) build -o wirebot .

test: fmt vet staticcheck unit fuzz

fmt:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) tool staticcheck ./...

unit:
	$(GO) test -race -count=1 ./...

# Seeded fuzz targets, run briefly; their seeds also run in every `go test`.
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzParseHeader$$' -fuzztime=$(FUZZTIME) -parallel=1 ./handlers
	$(GO) test -run='^$$' -fuzz='^FuzzAddress$$' -fuzztime=$(FUZZTIME) -parallel=1 ./bot

bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 ./bot ./handlers
	$(GO) test -run='^$$' -bench=. -benchtime=20x -count=1 .

run:
	$(GO) run .

clean:
	rm -f wirebot wirebot.db
