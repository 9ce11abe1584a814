package transcoder

import (
	"log/slog"
	"strings"
	"testing"
)

func TestProgressReader(t *testing.T) {
	out := `frame=250
fps=25.01
stream_0_0_q=28.0
bitrate=N/A
total_size=N/A
out_time_us=10000000
out_time_ms=10000000
out_time=00:00:10.000000
dup_frames=0
drop_frames=3
speed=1.01x
progress=continue
frame=260
fps=24.9
bitrate= 812.5kbits/s
total_size=1015625
out_time_us=10400000
drop_frames=3
speed=N/A
progress=end
`
	var got []progress
	w := &lineWriter{line: newProgressReader(func(p progress) { got = append(got, p) }).line}
	// Written in odd pieces, as a pipe delivers it.
	for chunk := range strings.SplitSeq(out, "e") {
		_, _ = w.Write([]byte(chunk + "e"))
	}
	want := []progress{
		{frames: 250, fps: 25.01, outTimeUS: 10000000, dropped: 3, speed: 1.01},
		{frames: 260, fps: 24.9, bitrateKbps: 812.5, totalSize: 1015625, outTimeUS: 10400000, dropped: 3, end: true},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d progress blocks, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("block %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestBitrateOfALaterRun: the ingest bitrate reported for a run counts the
// bytes its publisher sent during it, not those of the runs before it.
func TestBitrateOfALaterRun(t *testing.T) {
	s := newSupervisor(Config{Logger: slog.New(slog.DiscardHandler)}, nil, nil)
	// 4 MB came in during an earlier run, then 1 MB in 8 s of this one.
	s.stats.Bytes_in = 5_000_000
	r := &run{s: s, bytesInBefore: 4_000_000}
	s.onProgress(r, progress{frames: 200, outTimeUS: 8_000_000})
	s.mu.Lock()
	got := s.stats.Bitrate_kbps
	s.mu.Unlock()
	if got != 1000 {
		t.Errorf("Bitrate_kbps = %v, want 1000 (1 MB in 8 s)", got)
	}
	if !r.hadOutput.Load() {
		t.Error("the run had output, yet hadOutput is false")
	}
}
