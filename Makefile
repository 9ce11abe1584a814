# ezLiveStreaming. `make run` starts everything on this machine; `make test`
# runs every test. Both install what is missing first (Debian 12, as root or
# with sudo).
GO      ?= go
BIN     := bin/ezlive
GOFLAGS ?=
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)

.PHONY: all build run test test-go test-browser bench lint deps deps-test clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/ezlive

deps:
	@scripts/deps.sh run

deps-test:
	@scripts/deps.sh test

run: deps build
	@scripts/run.sh

# Every test: unit, contract (Redis, fauxqs), media (ffmpeg/ffprobe),
# Nomad driver (nomadtest), end to end, and the browser test (Chromium).
test: deps-test
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 25m ./...

bench: deps build
	$(GO) run ./bench/media
	$(GO) run ./bench/api
	$(GO) test -run '^$$' -bench . -benchtime 2s ./scheduler/ ./origin/ ./queue/ ./nomad/...

lint:
	@test -z "$$(gofmt -l . | grep -v node_modules)" || { gofmt -l . | grep -v node_modules; exit 1; }
	$(GO) vet ./...
	scripts/tflint.sh

clean:
	rm -rf bin .run
