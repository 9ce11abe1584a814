package jobspec

import (
	"slices"
	"testing"
	"time"
)

// TestSetOutputFailing feeds a streaming job a series of reports on its
// outputs: Output_failing_since and Output_error follow them, the start
// and end of each failure are events, and the state stays.
func TestSetOutputFailing(t *testing.T) {
	t.Parallel()
	at := func(s int) time.Time { return time.Unix(1000+int64(s), 0) }
	failing := func(s int, err string) Event {
		return Event{Time: at(s), Type: EventOutputFailing, From: StateStreaming, To: StateStreaming,
			Reason: "the origin does not take the outputs: " + err}
	}
	restored := func(s int) Event {
		return Event{Time: at(s), Type: EventOutputRestored, From: StateStreaming, To: StateStreaming,
			Reason: "the origin takes the outputs again"}
	}
	type report struct {
		since time.Time
		err   string
		now   time.Time
	}
	const e500, e503 = "PUT a.m3u8: origin answered 500", "PUT b.ts: origin answered 503"
	tests := []struct {
		name      string
		reports   []report
		want      []Event
		wantError string
	}{
		{"never failing", []report{{time.Time{}, "", at(1)}}, nil, ""},
		{"failing: the event has its start and error", []report{{at(3), e500, at(4)}}, []Event{failing(3, e500)}, e500},
		{"still failing, newer error: no new event", []report{{at(3), e500, at(4)}, {at(3), e503, at(5)}}, []Event{failing(3, e500)}, e503},
		{"failing, then restored", []report{{at(3), e500, at(4)}, {time.Time{}, "", at(9)}}, []Event{failing(3, e500), restored(9)}, ""},
		{"restored and failing again between two reports", []report{{at(3), e500, at(4)}, {at(7), e503, at(8)}},
			[]Event{failing(3, e500), restored(7), failing(7, e503)}, e503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			j := &LiveJob{State: StateStreaming, State_reason: "media is flowing"}
			for _, r := range tt.reports {
				j.SetOutputFailing(r.since, r.err, r.now)
				if !j.Output_failing_since.Equal(r.since) {
					t.Fatalf("after report %v: Output_failing_since %v", r.since, j.Output_failing_since)
				}
			}
			if !slices.Equal(j.Events, tt.want) {
				t.Errorf("events\n got %+v\nwant %+v", j.Events, tt.want)
			}
			if j.Output_error != tt.wantError {
				t.Errorf("Output_error %q, want %q", j.Output_error, tt.wantError)
			}
			if j.State != StateStreaming || j.State_reason != "media is flowing" {
				t.Errorf("state moved to %s (%s)", j.State, j.State_reason)
			}
		})
	}
}

// Leaving the states in which a transcoder runs clears an output failure
// without an output_restored event: the state change ends the placement.
func TestSetStateEndsOutputFailure(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		to    State
		keeps bool
	}{{StateRunning, true}, {StateScheduled, false}, {StateFailed, false}, {StateStopping, false}} {
		j := &LiveJob{State: StateStreaming}
		j.SetOutputFailing(time.Unix(100, 0), "PUT a.ts: origin answered 500", time.Unix(101, 0))
		j.SetState(tt.to, "test", time.Unix(102, 0))
		kept := !j.Output_failing_since.IsZero() && j.Output_error != ""
		if kept != tt.keeps || !kept && j.Output_error != "" {
			t.Errorf("to %s: Output_failing_since %v, Output_error %q; want kept %v", tt.to, j.Output_failing_since, j.Output_error, tt.keeps)
		}
		if n := len(j.Events); n != 2 || !j.Events[1].StateChange() {
			t.Errorf("to %s: events %+v, want the failure and the state change only", tt.to, j.Events)
		}
	}
}
