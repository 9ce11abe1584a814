package store

import (
	"context"
	"strconv"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
)

// HeartbeatReport is what a transcoder tells about itself.
type HeartbeatReport struct {
	JobID      string
	Generation int64
	Streaming  bool   // media is flowing (else: listening for input)
	IngestAddr string // host:port its RTMP listener is bound to
	Stats      jobspec.Stats
	Time       time.Time
	// InputLostSince is when the publisher's input was lost (zero while it
	// is live or before any publisher).
	InputLostSince time.Time
	// OutputFailingSince is since when the origin has not taken the
	// transcoder's writes (zero while it does); OutputError is the newest
	// failure, with no secret in it.
	OutputFailingSince time.Time
	OutputError        string
}

// RecordHeartbeat applies a transcoder's report to its job (stats, ingest
// URL, the running/streaming state, input loss and output failures with
// their events) and records its time in heartbeats, in one step. ErrFenced when the generation is not current or the job should
// no longer run.
func (s *Store) RecordHeartbeat(ctx context.Context, hb HeartbeatReport) (*jobspec.LiveJob, error) {
	at := strconv.FormatInt(hb.Time.UnixMilli(), 10)
	job, err := s.updateJob(ctx, hb.JobID, "", at, func(j *jobspec.LiveJob) error {
		if !placementCurrent(j, hb.Generation) {
			return ErrFenced
		}
		applyHeartbeat(j, hb)
		return nil
	})
	if jobspec.ErrorCode(err) == jobspec.ENOTFOUND {
		return nil, ErrFenced
	}
	return job, err
}

func applyHeartbeat(j *jobspec.LiveJob, hb HeartbeatReport) {
	stats := hb.Stats
	j.Stats = &stats
	j.Time_last_heartbeat = hb.Time
	if hb.IngestAddr != "" {
		j.SetIngestAddr(hb.IngestAddr)
	}
	j.SetInputLostSince(hb.InputLostSince, hb.Time)
	j.SetOutputFailing(hb.OutputFailingSince, hb.OutputError, hb.Time)
	switch {
	case hb.Streaming && j.State != jobspec.StateStreaming:
		j.SetState(jobspec.StateStreaming, "media is flowing", hb.Time)
		j.Time_streaming = hb.Time
	case !hb.Streaming && j.State != jobspec.StateRunning:
		j.SetState(jobspec.StateRunning, "listening for input", hb.Time)
	}
}
