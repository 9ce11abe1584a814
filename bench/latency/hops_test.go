package main

import (
	"math"
	"strings"
	"testing"
)

// A log of one frame's way: captured at 1000, at the gateway at 1030, at
// the transcoder at 1031 (timeline ts 40), the 0.5 s chunk that starts
// with it out of ffmpeg at 1700, its bytes 0-999 at the origin at 1705 (in
// two steps), asked for by the player at 1720, at the player at 1760 and
// the frame shown at 2900. Another
// job's records, audio chunks and frames nobody showed are left out.
const sampleLog = `{"msg":"trace: frame captured","job_id":"j1","frame":1,"pub_ts":54,"captured_ms":1000}
{"msg":"trace: frame captured","job_id":"j1","frame":2,"pub_ts":88,"captured_ms":1033}
{"msg":"trace: frame captured","job_id":"j2","frame":1,"pub_ts":54,"captured_ms":5}
{"msg":"trace: video frame relayed","job_id":"j1","ts":54,"in_ms":1030,"out_ms":1030}
{"msg":"trace: video frame relayed","job_id":"j1","ts":88,"in_ms":1064,"out_ms":1064}
{"msg":"trace: video frame to ffmpeg","job_id":"j1","pub_ts":88,"ts":74,"arrived_ms":1065,"written_ms":1065}
{"msg":"trace: video frame to ffmpeg","job_id":"j1","pub_ts":54,"ts":40,"arrived_ms":1031,"written_ms":1031}
not json
{"msg":"trace: chunk from ffmpeg","job_id":"j1","file":"chunk-g1p0-0-00001.m4s","video":true,"offset":0,"end":1000,"start":0.04,"duration":0.5,"sample":0.04,"at_ms":1700}
{"msg":"trace: chunk from ffmpeg","job_id":"j1","file":"chunk-g1p0-1-00001.m4s","video":false,"offset":0,"end":300,"start":0.04,"duration":0.5,"sample":0.04,"at_ms":1700}
{"msg":"trace: chunk from ffmpeg","job_id":"j1","file":"chunk-g1p0-0-00001.m4s","video":true,"offset":1000,"end":1800,"start":0.54,"duration":0.5,"sample":0.04,"at_ms":2200}
{"msg":"trace: upload stored","job_id":"j1","path":"j1/chunk-g1p0-0-00001.m4s","steps":[[600,1702],[1000,1705],[1800,2203]],"stored_ms":2204}
`

func TestBreakdownFollowsAChunkFromCaptureToDisplay(t *testing.T) {
	tr, err := readTrace(strings.NewReader(sampleLog), "j1")
	if err != nil {
		t.Fatal(err)
	}
	shown := [][2]int64{{1000, 2900}, {1000, 2940}, {1033, 2933}}
	tests := []struct {
		name           string
		asked          int64
		wait, transfer float64
	}{
		{"asked for after it was at the origin", 1720, 15, 40},
		{"asked for before", 1600, 0, 55}, // a low-latency player's request waits at the origin
	}
	for _, tt := range tests {
		requests := []request{
			{URL: "http://o/live/j1/chunk-g1p0-1-00001.m4s", Steps: [][2]int64{{300, 1750}}},
			{URL: "http://o/live/j1/chunk-g1p0-0-00001.m4s?x=1", From: 0, Start: tt.asked, Steps: [][2]int64{{700, 1740}, {1000, 1760}, {1800, 2300}}},
			{URL: "http://o/live/j1/chunk-g1p0-0-00001.m4s", From: 500, Steps: [][2]int64{{500, 1710}}}, // starts inside the chunk
		}
		got := tr.breakdown(shown, requests)
		want := hops{publisher: 30, gateway: 1, encoder: 1700 - 1031 - 500, chunk: 500, upload: 5, wait: tt.wait, transfer: tt.transfer, holdBack: 1140, total: 1900}
		if len(got) != 1 || got[0] != want {
			t.Fatalf("%s: breakdown = %+v, want [%+v]", tt.name, got, want)
		}
		sum := 0.0
		for _, v := range got[0].values() {
			sum += v
		}
		if sum != got[0].total {
			t.Errorf("%s: hops add up to %v, not the total %v", tt.name, sum, got[0].total)
		}
	}
	if p, ok := tr.startup(100); !ok || p != 1700-1031-500-100 {
		t.Errorf("startup = %v, %v", p, ok)
	}
}

// The chunk's first frame is the input frame ffmpeg's fps filter kept for
// the chunk's first output frame (30 fps in, 25 out: the last input frame
// whose timestamp rounds to that output frame or an earlier one), and the
// player must have shown it.
func TestFirstFrameIsTheOneTheFpsFilterKept(t *testing.T) {
	tr := &trace{captured: map[int64]int64{}}
	for _, ts := range []int64{1, 33, 67, 100, 133, 167, 200} {
		tr.frames = append(tr.frames, frameIn{pubTS: ts + 20, ts: ts})
		tr.captured[ts+20] = 1000 + ts
	}
	all := map[int64]int64{}
	for _, c := range tr.captured {
		all[c] = c + 500
	}
	tests := []struct {
		start float64
		shown map[int64]int64
		ts    int64 // of the input frame found; -1: none
	}{
		{0, all, 1},
		{0.04, all, 33},
		{0.08, all, 67},
		{0.12, all, 133}, // 100 and 133 both round to 0.12: 100 was dropped
		{0.16, all, 167},
		{0.04, map[int64]int64{1067: 1500}, -1}, // 33 not shown
		{0.4, all, -1},                          // no input frame near it
	}
	for _, tt := range tests {
		f, captured, shown, ok := tr.firstFrame(chunk{start: tt.start, sample: 0.04}, tt.shown)
		switch {
		case tt.ts < 0 && ok:
			t.Errorf("start %v: found frame %d, want none", tt.start, f.ts)
		case tt.ts >= 0 && (!ok || f.ts != tt.ts || captured != 1000+tt.ts || shown != captured+500):
			t.Errorf("start %v: frame %d (%v) captured %d shown %d, want frame %d", tt.start, f.ts, ok, captured, shown, tt.ts)
		}
	}
}

// The first and last minute are read from when frames were shown: a
// player that drifts 0.5 s later over three minutes shows it.
func TestFirstAndLastMinute(t *testing.T) {
	var shown [][2]int64
	for ms := int64(0); ms <= 180_000; ms += 40 {
		latency := 1000 + ms*500/180_000 // 1.0 s, drifting to 1.5 s
		shown = append(shown, [2]int64{ms - latency, ms})
	}
	first, last, ok := firstAndLastMinute(shown)
	if !ok || math.Abs(first-1.08) > 0.01 || math.Abs(last-1.42) > 0.01 {
		t.Errorf("firstAndLastMinute = %.3f, %.3f, %v; want 1.08, 1.42, true", first, last, ok)
	}
	if _, _, ok := firstAndLastMinute(shown[:len(shown)/2]); ok {
		t.Error("90 s of frames gave a first and a last minute")
	}
}
