package store

import (
	"encoding/json"
	"testing"

	"github.com/ezlivestreaming/ezlive/jobspec"
)

func TestStateOf(t *testing.T) {
	for _, st := range []jobspec.State{jobspec.StateCreated, jobspec.StateStreaming, jobspec.StateDeleting, ""} {
		rec, _ := json.Marshal(&jobspec.LiveJob{Id: "0190a0b0-0000-7000-8000-000000000000", State: st,
			Spec: jobspec.Spec{Input: json.RawMessage(`{"State":"failed"}`)}})
		if got := stateOf(string(rec)); got != st {
			t.Errorf("%s: stateOf = %q, want %q", rec, got, st)
		}
	}
	// Records not laid out as json.Marshal writes them are decoded.
	cases := map[string]jobspec.State{
		`{"State":"failed","Id":"a"}`:                      jobspec.StateFailed,
		`{"Id":"a\"b","State":"running"}`:                  jobspec.StateRunning,
		`{"Id":"a", "State":"stopped"}`:                    jobspec.StateStopped,
		`{"Id":"a","State":"run\u006eing"}`:                jobspec.StateRunning,
		`{"Id":"a","Spec":{"State":"failed"},"State":"x"}`: "x",
		`not json`: "",
	}
	for rec, want := range cases {
		if got := stateOf(rec); got != want {
			t.Errorf("%s: stateOf = %q, want %q", rec, got, want)
		}
	}
}
