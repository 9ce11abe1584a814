package main

import (
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
{"msg":"trace: chunk from ffmpeg","job_id":"j1","file":"chunk-g1p0-0-00001.m4s","video":true,"offset":0,"end":1000,"start":0.04,"duration":0.5,"at_ms":1700}
{"msg":"trace: chunk from ffmpeg","job_id":"j1","file":"chunk-g1p0-1-00001.m4s","video":false,"offset":0,"end":300,"start":0.04,"duration":0.5,"at_ms":1700}
{"msg":"trace: chunk from ffmpeg","job_id":"j1","file":"chunk-g1p0-0-00001.m4s","video":true,"offset":1000,"end":1800,"start":0.54,"duration":0.5,"at_ms":2200}
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

// The chunk's first frame is the one whose time code the player showed,
// among the frames nearest its media time.
func TestFirstFrameIsTheOneShown(t *testing.T) {
	tr := &trace{
		captured: map[int64]int64{0: 100, 33: 133, 67: 167},
		frames:   []frameIn{{pubTS: 0, ts: 0}, {pubTS: 33, ts: 33}, {pubTS: 67, ts: 67}},
	}
	tests := []struct {
		start float64
		shown map[int64]int64
		pubTS int64
		found bool
	}{
		{0.04, map[int64]int64{133: 900}, 33, true},
		{0.04, map[int64]int64{167: 900}, 67, true},
		{0.04, map[int64]int64{100: 900, 133: 930}, 33, true},
		{0.04, map[int64]int64{}, 0, false},
	}
	for _, tt := range tests {
		f, _, _, ok := tr.firstFrame(chunk{start: tt.start}, tt.shown)
		if ok != tt.found || ok && f.pubTS != tt.pubTS {
			t.Errorf("start %v shown %v: frame %d (%v), want %d (%v)", tt.start, tt.shown, f.pubTS, ok, tt.pubTS, tt.found)
		}
	}
}
