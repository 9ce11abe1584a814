package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/redis/go-redis/v9"
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

// HeartbeatAck is what a recorded heartbeat tells its transcoder.
type HeartbeatAck struct {
	StreamKey string        // the job's current stream key (rotation reaches the front through it)
	State     jobspec.State // the job's state after the heartbeat: running or streaming
}

// recordLive records a heartbeat that changes none of the record's fields
// in one step: its live fields (ARGV[4]) go to job_live, its time (ARGV[5],
// unix ms) to heartbeats, if the job's fence says that generation ARGV[2]
// is current and the job active (else {0}: fenced) and that the record's
// heartbeat digest is ARGV[3] (else {2}: the record must be updated,
// as when the job has no fence). {1, stream key} when recorded.
var recordLive = redis.NewScript(`
local f = redis.call('HGET', KEYS[1], ARGV[1])
if not f then return {2} end
local gen, active, digest, key = string.match(f, '^(%S+) (%S+) (%S+) (.*)$')
if gen ~= ARGV[2] or active ~= '1' then return {0} end
if digest ~= ARGV[3] then return {2} end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
return {1, key}`)

// RecordHeartbeat applies a transcoder's report to its job (stats, ingest
// URL, the running/streaming state, input loss and output failures with
// their events) and records its time in heartbeats, in one step.
// ErrFenced when the generation is not current or the job should no
// longer run. A report that changes only the live fields (stats, time: the
// usual one) costs one small script call (recordLive); one that changes
// the record goes through the record's compare-and-swap.
func (s *Store) RecordHeartbeat(ctx context.Context, hb HeartbeatReport) (HeartbeatAck, error) {
	at := strconv.FormatInt(hb.Time.UnixMilli(), 10)
	ack, recorded, err := s.recordLive(ctx, hb, at)
	if err != nil || recorded {
		return ack, err
	}
	job, err := s.updateJob(ctx, hb.JobID, nil, at, func(j *jobspec.LiveJob) error {
		if !placementCurrent(j, hb.Generation) {
			return ErrFenced
		}
		applyHeartbeat(j, hb)
		return nil
	})
	switch {
	case jobspec.ErrorCode(err) == jobspec.ENOTFOUND:
		return HeartbeatAck{}, ErrFenced
	case err != nil:
		return HeartbeatAck{}, err
	}
	return HeartbeatAck{StreamKey: job.StreamKey, State: job.State}, nil
}

// recordLive runs recordLive for hb; recorded is false when the record
// must be updated instead.
func (s *Store) recordLive(ctx context.Context, hb HeartbeatReport, at string) (ack HeartbeatAck, recorded bool, err error) {
	state, digest := heartbeatState(hb)
	stats := hb.Stats
	liveJSON, err := json.Marshal(live{Stats: &stats, Time_last_heartbeat: hb.Time})
	if err != nil {
		return HeartbeatAck{}, false, fmt.Errorf("encode heartbeat of %s: %w", hb.JobID, err)
	}
	keys := []string{KeyJobFence, KeyJobLive, KeyHeartbeats}
	res, err := recordLive.Run(ctx, s.rdb, keys, hb.JobID, hb.Generation, digest, liveJSON, at).Slice()
	if err != nil {
		return HeartbeatAck{}, false, wrap(err, "record heartbeat of "+hb.JobID)
	}
	switch code, _ := res[0].(int64); code {
	case 0:
		return HeartbeatAck{}, false, ErrFenced
	case 1:
		key, _ := res[1].(string)
		return HeartbeatAck{StreamKey: key, State: state}, true, nil
	}
	return HeartbeatAck{}, false, nil
}

// heartbeatState is the state a record has after hb and the heartbeat
// digest it has then (heartbeatDigest), which is the record's when hb
// changes none of its fields. A report without an ingest address leaves
// the record's, which it does not know: its digest matches none.
func heartbeatState(hb HeartbeatReport) (jobspec.State, string) {
	state := jobspec.StateRunning
	if hb.Streaming {
		state = jobspec.StateStreaming
	}
	if hb.IngestAddr == "" {
		return state, "-"
	}
	return state, heartbeatDigest(state, hb.IngestAddr, hb.InputLostSince, hb.OutputFailingSince, hb.OutputError)
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
