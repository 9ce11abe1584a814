package cli

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/internal/redistest"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/store"
	"github.com/ezlivestreaming/ezlive/transcoder"
)

// The transcoder's heartbeats reach the job record whole: state, ingest
// address, stats and input loss; a fenced one stops the transcoder.
func TestHeartbeatsReport(t *testing.T) {
	t.Parallel()
	st := store.New(redistest.Start(t).Client(t))
	ctx := context.Background()
	job := &jobspec.LiveJob{Id: "hb", StreamKey: "key-hb", State: jobspec.StateScheduled, Placement_generation: 3}
	if err := st.CreateJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Millisecond)
	lost := now.Add(-2 * time.Second)
	tests := []struct {
		name      string
		hb        transcoder.Heartbeat
		wantState jobspec.State
		wantLost  time.Time
		fenced    bool
	}{
		{"listening", transcoder.Heartbeat{State: transcoder.StateListening, IngestAddr: "127.0.0.1:9100"}, jobspec.StateRunning, time.Time{}, false},
		{"streaming", transcoder.Heartbeat{State: transcoder.StateStreaming, Stats: jobspec.Stats{Fps: 25}}, jobspec.StateStreaming, time.Time{}, false},
		{"input lost", transcoder.Heartbeat{State: transcoder.StateStreaming, InputLostSince: lost}, jobspec.StateStreaming, lost, false},
		{"input back", transcoder.Heartbeat{State: transcoder.StateStreaming}, jobspec.StateStreaming, time.Time{}, false},
		{"an older generation", transcoder.Heartbeat{Generation: 2, State: transcoder.StateListening, InputLostSince: lost}, jobspec.StateStreaming, time.Time{}, true},
	}
	for _, tt := range tests {
		hb := tt.hb
		hb.JobID, hb.Time = "hb", now
		if hb.Generation == 0 {
			hb.Generation = 3
		}
		err := heartbeats{st}.Report(ctx, hb)
		if fenced := errors.Is(err, transcoder.ErrFenced); fenced != tt.fenced || err != nil && !tt.fenced {
			t.Fatalf("%s: Report = %v, want fenced %v", tt.name, err, tt.fenced)
		}
		got, err := st.Job(ctx, "hb")
		if err != nil {
			t.Fatal(err)
		}
		if got.State != tt.wantState || !got.Input_lost_since.Equal(tt.wantLost) || got.Ingest_addr != "127.0.0.1:9100" {
			t.Errorf("%s: state %s, Input_lost_since %v, ingest %q; want %s, %v, 127.0.0.1:9100",
				tt.name, got.State, got.Input_lost_since, got.Ingest_addr, tt.wantState, tt.wantLost)
		}
	}
}
