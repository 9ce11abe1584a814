package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/store"
)

// TestHeartbeatOutputFailures: heartbeats carry the transcoder's failing
// writes into the record (since when, the newest error, the count in the
// stats) and the start and end of each failure into job_events, with the
// state unchanged; a report of an older placement changes nothing.
func TestHeartbeatOutputFailures(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	createPlaced(t, s, "of", 2)
	t0 := time.Now().Truncate(time.Millisecond)
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	const e500, e503 = "PUT index.m3u8: origin answered 500", "PUT seg_7.ts: origin answered 503"
	tests := []struct {
		name       string
		generation int64
		since      time.Time
		err        string
		failures   int64
		want       string // events this heartbeat adds to job_events: type/to@seconds
		fenced     bool
	}{
		{"media flowing", 2, time.Time{}, "", 0, "[/streaming@0]", false},
		{"writes fail", 2, at(1), e500, 3, "[output_failing/streaming@1]", false},
		{"still failing, newer error", 2, at(1), e503, 9, "[]", false},
		{"an older placement's refused writes", 1, at(2), "PUT x.ts: origin answered 403", 1, "[]", true},
		{"a write went through", 2, time.Time{}, "", 9, "[output_restored/streaming@4]", false},
	}
	wantSince, wantErr := time.Time{}, ""
	for i, tt := range tests {
		after, err := s.LatestEventID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.RecordHeartbeat(ctx, store.HeartbeatReport{JobID: "of", Generation: tt.generation, Streaming: true,
			Stats: jobspec.Stats{Upload_failures: tt.failures}, Time: at(i), OutputFailingSince: tt.since, OutputError: tt.err})
		if fenced := errors.Is(err, store.ErrFenced); fenced != tt.fenced || err != nil && !fenced {
			t.Fatalf("%s: %v, want fenced %v", tt.name, err, tt.fenced)
		}
		if !tt.fenced {
			wantSince, wantErr = tt.since, tt.err
		}
		stored, err := s.Job(ctx, "of")
		if err != nil {
			t.Fatal(err)
		}
		if !stored.Output_failing_since.Equal(wantSince) || stored.Output_error != wantErr {
			t.Errorf("%s: record says failing since %v (%q), want %v (%q)", tt.name, stored.Output_failing_since, stored.Output_error, wantSince, wantErr)
		}
		if !tt.fenced && stored.Stats.Upload_failures != tt.failures {
			t.Errorf("%s: Upload_failures %d, want %d", tt.name, stored.Stats.Upload_failures, tt.failures)
		}
		if _, published := publishedAfter(t, s, after, t0); published != tt.want {
			t.Errorf("%s: published %v, want %s", tt.name, published, tt.want)
		}
	}
}
