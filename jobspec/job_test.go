package jobspec

import (
	"slices"
	"testing"
	"time"
)

// TestSetInputLostSince feeds a streaming job a series of reports: each
// must leave Input_lost_since as reported and add exactly the events listed,
// with the state unchanged.
func TestSetInputLostSince(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	lost := func(s int) Event {
		return Event{Time: at(s), Type: EventInputLost, From: StateStreaming, To: StateStreaming,
			Reason: "the publisher's input was lost: the output stays on the slate for up to 60 s while it reconnects"}
	}
	restored := func(s int) Event {
		return Event{Time: at(s), Type: EventInputRestored, From: StateStreaming, To: StateStreaming, Reason: "the publisher's input is back"}
	}
	type report struct{ since, now time.Time }
	tests := []struct {
		name    string
		reports []report
		want    []Event
	}{
		{"live, never lost", []report{{time.Time{}, at(1)}, {time.Time{}, at(2)}}, nil},
		{"lost: the event has the loss time", []report{{at(3), at(5)}}, []Event{lost(3)}},
		{"lost, reported again", []report{{at(3), at(5)}, {at(3), at(6)}, {at(3).In(time.FixedZone("x", 3600)), at(7)}}, []Event{lost(3)}},
		{"lost and restored", []report{{at(3), at(5)}, {time.Time{}, at(9)}}, []Event{lost(3), restored(9)}},
		{"restored and lost again between two reports", []report{{at(3), at(5)}, {at(8), at(9)}},
			[]Event{lost(3), restored(8), lost(8)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			j := &LiveJob{State: StateStreaming, State_reason: "media is flowing"}
			for _, r := range tt.reports {
				n, updated := len(j.Events), j.Time_updated
				j.SetInputLostSince(r.since, r.now)
				if !j.Input_lost_since.Equal(r.since) {
					t.Fatalf("after report %v: Input_lost_since %v", r.since, j.Input_lost_since)
				}
				if len(j.Events) > n && !j.Time_updated.Equal(r.now) || len(j.Events) == n && j.Time_updated != updated {
					t.Errorf("after report %v: Time_updated %v, want moved to %v only with an event", r.since, j.Time_updated, r.now)
				}
			}
			if !slices.Equal(j.Events, tt.want) {
				t.Errorf("events\n got %+v\nwant %+v", j.Events, tt.want)
			}
			if j.State != StateStreaming || j.State_reason != "media is flowing" {
				t.Errorf("state moved to %s (%s)", j.State, j.State_reason)
			}
		})
	}
}

// The reason of an input_lost event says what the output does meanwhile.
func TestInputLostReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		window *float64
		want   string
	}{
		{nil, "the publisher's input was lost: the output stays on the slate for up to 60 s while it reconnects"},
		{new(90.5), "the publisher's input was lost: the output stays on the slate for up to 90.5 s while it reconnects"},
		{new(0.0), "the publisher's input was lost: the stream ends (no reconnect window)"},
	}
	for _, tt := range tests {
		j := &LiveJob{State: StateRunning, Spec: Spec{Input_loss: &InputLoss{Reconnect_window: tt.window}}}
		j.SetInputLostSince(time.Unix(100, 0), time.Unix(101, 0))
		if got := j.Events[0].Reason; got != tt.want {
			t.Errorf("window %v: reason %q, want %q", tt.window, got, tt.want)
		}
	}
}

// Leaving the states in which a transcoder takes a publisher clears an
// input loss, without an input_restored event; moving between them keeps it.
func TestSetStateEndsInputLoss(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		to    State
		keeps bool
	}{
		{StateRunning, true}, {StateStreaming, true},
		{StateScheduled, false}, {StateStopping, false}, {StateStopped, false}, {StateFailed, false}, {StateCreated, false},
	} {
		j := &LiveJob{State: StateStreaming}
		lostAt := time.Unix(100, 0)
		j.SetInputLostSince(lostAt, time.Unix(101, 0))
		j.SetState(tt.to, "test", time.Unix(102, 0))
		if kept := !j.Input_lost_since.IsZero(); kept != tt.keeps {
			t.Errorf("to %s: Input_lost_since %v, want kept %v", tt.to, j.Input_lost_since, tt.keeps)
		}
		if n := len(j.Events); n != 2 || j.Events[1].Type != EventStateChange {
			t.Errorf("to %s: events %+v, want the loss and the state change only", tt.to, j.Events)
		}
	}
}

func TestLastStateChange(t *testing.T) {
	t.Parallel()
	j := &LiveJob{}
	if ev, ok := j.LastStateChange(); ok {
		t.Fatalf("no history: got %+v", ev)
	}
	j.SetState(StateCreated, "created", time.Unix(1, 0))
	j.SetState(StateScheduled, "placed", time.Unix(2, 0))
	j.SetState(StateRunning, "listening", time.Unix(3, 0))
	j.SetInputLostSince(time.Unix(4, 0), time.Unix(5, 0))
	j.SetInputLostSince(time.Time{}, time.Unix(6, 0))
	ev, ok := j.LastStateChange()
	if !ok || ev.From != StateScheduled || ev.To != StateRunning {
		t.Errorf("LastStateChange = %+v, %v; want scheduled → running past the input events", ev, ok)
	}
}

func TestWindowSegments(t *testing.T) {
	cases := []struct {
		depth, segment float64
		want           int
	}{
		{0, 4, LiveWindow},     // no DVR window: the live edge
		{10, 4, LiveWindow},    // shorter than the live window
		{60, 4, 15},            // a minute of 4 s segments
		{61, 4, 16},            // rounded up: the window covers all it asks
		{14400, 1, 14400},      // four hours of 1 s segments
		{2.5, 0.5, LiveWindow}, // never fewer than LiveWindow
		{30, 0, LiveWindow},    // an invalid spec does not divide by zero
	}
	for _, c := range cases {
		o := Output{Time_shift_buffer_depth: c.depth, Segment_duration: c.segment}
		if got := WindowSegments(o); got != c.want {
			t.Errorf("WindowSegments(depth %g, segment %g) = %d, want %d", c.depth, c.segment, got, c.want)
		}
	}
}
