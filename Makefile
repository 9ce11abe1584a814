# ezLiveStreaming. `make run` starts everything on this machine; `make test`
# runs every test. Both install what is missing first (Debian 12, as root or
# with sudo).
GO      ?= go
BIN     := bin/ezlive
# srt: the ingest gateway's SRT listener, through Debian's libsrt (cgo).
TAGS    := srt
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)

.PHONY: all build run test test-go test-browser bench lint deps deps-test clean

all: build

build:
	$(GO) build -tags $(TAGS) -o $(BIN) ./cmd/ezlive

deps:
	@scripts/deps.sh run

deps-test:
	@scripts/deps.sh test

run: deps build
	@scripts/run.sh

# Every test: unit, contract (Redis, fauxqs), media (ffmpeg/ffprobe),
# Nomad driver (nomadtest), end to end, and the browser test (Chromium).
# go test runs two packages at a time in the order given: the slowest
# (SLOW_PKGS, real ffmpeg and Redis) start first, so the many short ones
# fill the other core beside them rather than leaving one idle at the end.
# The whole-system tests (e2e) run real encoders and a browser, so they run
# after the other packages and two at a time: on 2 cores, more would starve
# the encoders and make the playback checks fail for the wrong reason.
SLOW_PKGS := ./transcoder/ ./queue/ ./origin/ ./internal/cli/
test: deps-test
	$(GO) vet -tags $(TAGS) ./...
	$(GO) test -tags $(TAGS) -count=1 -timeout 15m $(SLOW_PKGS) $$($(GO) list ./... | grep -v -e /e2e$$ $(SLOW_PKGS:./%/=-e /%$$))
	$(GO) test -tags $(TAGS) -count=1 -timeout 15m -parallel 2 ./e2e/

# Figures, not assertions: the machines are noisy, so each prints medians or
# ratios with the command that produced them.
bench: deps-test build
	$(GO) run ./bench/media                  # CPU per media-second vs hand-written ffmpeg; listener and first-segment latency
	$(GO) run ./bench/api                    # GET one and a list of 100 beside a bare handler (and the original api_server with -original), POST, paging 10,000 jobs
	$(GO) test -run '^$$' -bench . -benchtime 3x ./e2e/        # POST → running (local, Nomad); failover (node or agent death → streaming) and stop after it
	$(GO) test -run '^$$' -bench . -benchtime 1000x ./scheduler/  # placement with 1,000 nodes and 10,000 jobs
	$(GO) run ./bench/queue                  # idle cost of 2,000 vs 10,000 jobs waiting for capacity: scheduler and Redis CPU
	$(GO) run ./bench/fleet                  # simulated 1,000 nodes, 10,000 jobs (no media): time to streaming, Redis and API cost, 50 nodes killed → streaming again
	$(GO) test -run '^$$' -bench . ./origin/ ./queue/ ./drm/ ./llhls/   # drm: encryption CPU per Mbit/s; llhls: a playlist render, live edge vs a 4 h DVR window
	$(GO) test -run '^$$' -bench InputLoss -benchtime 3x ./transcoder/  # input lost → slate, publisher back → picture, at the origin; slate CPU / live CPU
	$(GO) run ./bench/ingest                 # gateway CPU per Mbit/s, added latency, concurrent publishers
	$(GO) run ./bench/recording              # storage per channel-hour of a recording of the sample ladder; clip cut latency
	$(GO) run ./bench/latency                # glass-to-glass latency in Chromium: LL HLS, LL DASH, DASH, bare ffmpeg HLS; Shaka, hls.js, dash.js

lint:
	@test -z "$$(gofmt -l . | grep -v node_modules)" || { gofmt -l . | grep -v node_modules; exit 1; }
	$(GO) vet -tags $(TAGS) ./...
	bash terraform/lint.sh

clean:
	rm -rf bin .run
