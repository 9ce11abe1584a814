package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/store"
)

// Media figures a simulated transcoder reports: a 25 fps publisher at
// 3 Mbit/s in, the sample ladder's ~1 Mbit/s out.
const (
	simFps     = 25
	simInKbps  = 3000
	simOutKbps = 1043
)

// transcode is one simulated transcoder: it reads its placement as a real
// one does (store.PlacedJob), then heartbeats every second through the
// same store call as the real reporter (store.RecordHeartbeat, from
// internal/cli's heartbeats.Report), as streaming from the first one (its
// publisher is taken to be there already). Its heartbeats start at a
// random point of the second, so a fleet's are spread over it. It stops
// when fenced or when ctx ends (the placement stopped or its node died).
func (f *fleet) transcode(ctx context.Context, pl *placement) {
	defer f.exited(pl)
	id, gen := pl.run.JobID, pl.run.Generation
	if _, err := f.st.PlacedJob(ctx, id, gen); err != nil {
		return
	}
	start := time.Now()
	addr := pl.run.NodeID + ":1935"
	if !f.heartbeat(ctx, id, gen, addr, start) {
		return
	}
	if !sleep(ctx, rand.N(time.Second)) {
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for f.heartbeat(ctx, id, gen, addr, start) {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// heartbeat reports once; false when the transcoder must stop.
func (f *fleet) heartbeat(ctx context.Context, id string, gen int64, addr string, start time.Time) bool {
	now := time.Now()
	f.heartbeats.Add(1)
	ack, err := f.st.RecordHeartbeat(ctx, store.HeartbeatReport{
		JobID: id, Generation: gen, Streaming: true, IngestAddr: addr, Stats: simStats(now.Sub(start)), Time: now,
	})
	switch {
	case errors.Is(err, store.ErrFenced) || ctx.Err() != nil:
		return false
	case err == nil && ack.State == jobspec.StateStreaming:
		f.reportStreaming(id, gen, time.Now())
	}
	return true // other errors: the next heartbeat tries again, as a real one does
}

// simStats are a real transcoder's counters after d of streaming.
func simStats(d time.Duration) jobspec.Stats {
	s := d.Seconds()
	return jobspec.Stats{
		Fps: simFps, Bitrate_kbps: simInKbps, Speed: 1, Frames: int64(s * simFps),
		Bytes_in: int64(s * simInKbps * 125), Bytes_out: int64(s * simOutKbps * 125),
	}
}

// sleep waits d; false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
