package store

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
)

func TestSpliceLive(t *testing.T) {
	for _, tt := range []struct{ name, record, live, want string }{
		{"no live fields", `{"Id":"a"}`, ``, `{"Id":"a"}`},
		{"empty live object", `{"Id":"a"}`, `{}`, `{"Id":"a"}`},
		{"blank live object", `{"Id":"a"}`, ` { } `, `{"Id":"a"}`},
		{"empty record", `{}`, `{"Stats":{"Fps":25}}`, `{"Stats":{"Fps":25}}`},
		{"blank record", "{ \n}", `{"A":1}`, "{ \n\"A\":1}"},
		{"members", `{"Id":"a","State":"streaming"}`, `{"Stats":{"Fps":25},"Time_last_heartbeat":"2026-01-01T00:00:00Z"}`,
			`{"Id":"a","State":"streaming","Stats":{"Fps":25},"Time_last_heartbeat":"2026-01-01T00:00:00Z"}`},
		{"trailing space", "{\"Id\":\"a\"}\n", ` {"A":1} `, "{\"Id\":\"a\",\"A\":1}\n"},
		{"record not an object", `[1]`, `{"A":1}`, `[1]`},
		{"live not an object", `{"Id":"a"}`, `"x"`, `{"Id":"a"}`},
		{"empty record bytes", ``, `{"A":1}`, ``},
	} {
		if got := string(spliceLive([]byte(tt.record), []byte(tt.live))); got != tt.want {
			t.Errorf("%s: spliceLive(%q, %q) = %q, want %q", tt.name, tt.record, tt.live, got, tt.want)
		}
	}
	// Several objects (job_live's and job_bytes'): each one's members, in order.
	for _, tt := range []struct{ name, record, live, size, want string }{
		{"both", `{"Id":"a"}`, `{"A":1}`, `{"B":2}`, `{"Id":"a","A":1,"B":2}`},
		{"no live fields", `{"Id":"a"}`, ``, `{"B":2}`, `{"Id":"a","B":2}`},
		{"empty live object", `{}`, `{}`, `{"B":2}`, `{"B":2}`},
		{"no size", `{"Id":"a"}`, `{"A":1}`, ` { } `, `{"Id":"a","A":1}`},
	} {
		if got := string(spliceLive([]byte(tt.record), []byte(tt.live), []byte(tt.size))); got != tt.want {
			t.Errorf("%s: spliceLive(%q, %q, %q) = %q, want %q", tt.name, tt.record, tt.live, tt.size, got, tt.want)
		}
	}
}

// TestSplitAndSpliceRoundTrip: a job split into its record and live fields
// and spliced back decodes to the same job; the live fields win over a
// record's own (one stored before job_live existed).
func TestSplitAndSpliceRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 2, 6, 0, 0, 123456789, time.UTC)
	j := &jobspec.LiveJob{Id: "r", State: jobspec.StateStreaming, StreamKey: "k", Stats: &jobspec.Stats{Fps: 25, Frames: 9}, Time_last_heartbeat: at}
	record, liveJSON, err := splitJob(j)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(record), &rec); err != nil || rec["Stats"] != nil || rec["Time_last_heartbeat"] != nil {
		t.Fatalf("record keeps live fields: %s %v", record, err)
	}
	got, err := decodeStored(record, liveJSON)
	if err != nil || got.Stats == nil || *got.Stats != *j.Stats || !got.Time_last_heartbeat.Equal(at) || got.StreamKey != "k" {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	old, _ := json.Marshal(&jobspec.LiveJob{Id: "r", Stats: &jobspec.Stats{Fps: 1}})
	if got, _ := decodeStored(string(old), liveJSON); got.Stats.Fps != 25 {
		t.Errorf("an old record's stats won over job_live's: %+v", got.Stats)
	}
}

// BenchmarkSpliceLive splices a heartbeat's live fields into a record of
// the sample job's size.
func BenchmarkSpliceLive(b *testing.B) {
	j := &jobspec.LiveJob{Id: "0190c0de-0000-7000-8000-000000000000", State: jobspec.StateStreaming,
		Spec: jobspec.Spec{}, Job_validation_warnings: make([]string, 20)}
	for i := range j.Job_validation_warnings {
		j.Job_validation_warnings[i] = "a warning of about a hundred bytes, as the sample job's are, to give the record its size ......"
	}
	record, _ := json.Marshal(j)
	liveJSON, _ := json.Marshal(live{Stats: &jobspec.Stats{Fps: 25, Bitrate_kbps: 3000, Speed: 1, Frames: 123456}, Time_last_heartbeat: time.Now()})
	b.SetBytes(int64(len(record)))
	for b.Loop() {
		spliceLive(record, liveJSON)
	}
}
