package transcoder

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// The relay's trace logs each chunk of ffmpeg's dash-muxer segments once
// its bytes are through: chunks that tile the file, with media times on
// the input's timeline that follow on from one another (with B-frames
// too: the edit list's delay taken off), video told from audio by the
// init segment, also when a segment's first bytes came before it.
func TestChunkTraceLogsEachChunk(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel()
	for _, tt := range []struct {
		name    string
		encoder []string
		bframes bool
	}{
		{"zerolatency", []string{"-tune", "zerolatency"}, false},
		{"B-frames", []string{"-bf", "2"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := chunkedSegments(t, tt.encoder)
			var logged bytes.Buffer
			ct := newChunkTrace(slog.New(slog.NewJSONHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug})))
			read := func(name string, body io.Reader) {
				if _, err := io.Copy(io.Discard, ct.body(name, io.NopCloser(body))); err != nil {
					t.Fatal(err)
				}
			}
			file := func(name string) []byte {
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			if read("chunk-g1p0-0-00001.m4s", bytes.NewReader(file("chunk-g1p0-0-00001.m4s"))); logged.Len() != 0 {
				t.Fatalf("a segment whose init segment never came was traced: %s", logged.String())
			}
			for rep, video := range []bool{true, false} {
				logged.Reset()
				name := fmt.Sprintf("chunk-g1p0-%d-00002.m4s", rep)
				b := file(name)
				seg := ct.body(name, io.NopCloser(bytes.NewReader(b)))
				head := make([]byte, 100) // before the init segment
				if _, err := io.ReadFull(seg, head); err != nil {
					t.Fatal(err)
				}
				read(fmt.Sprintf("init-g1p0-%d.mp4", rep), bytes.NewReader(file(fmt.Sprintf("init-g1p0-%d.mp4", rep))))
				if _, err := io.Copy(io.Discard, seg); err != nil {
					t.Fatal(err)
				}
				checkChunks(t, &logged, name, video, video && tt.bframes, int64(len(b)))
			}
			if body := io.NopCloser(nil); ct.body("master.mpd", body) != body {
				t.Error("a manifest's body was wrapped")
			}
		})
	}
}

// chunkedSegments has ffmpeg's dash muxer write 2 s of video with the
// encoder options and audio, as 1 s segments of 0.25 s chunks named as the
// transcoder's are, and returns the folder.
func chunkedSegments(t *testing.T, encoder []string) string {
	dir := t.TempDir()
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-f", "lavfi", "-i", "sine=sample_rate=48000",
		"-t", "2", "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac"}
	args = append(append(args, encoder...),
		"-f", "dash", "-seg_duration", "1", "-use_template", "1", "-use_timeline", "0",
		"-adaptation_sets", "id=0,streams=v id=1,streams=a", "-dash_segment_type", "mp4",
		"-init_seg_name", "init-g1p0-$RepresentationID$.mp4", "-media_seg_name", "chunk-g1p0-$RepresentationID$-$Number%05d$.m4s",
		"-ldash", "1", "-streaming", "1", "-frag_type", "duration", "-frag_duration", "0.25",
		filepath.Join(dir, "master.mpd"))
	if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	return dir
}

// checkChunks reads the chunk records of the second 1 s segment name.
func checkChunks(t *testing.T, logged io.Reader, name string, video, bframes bool, size int64) {
	t.Helper()
	var end int64
	var prev, next float64
	n := 0
	for dec := json.NewDecoder(logged); dec.More(); n++ {
		var rec struct {
			Msg, File       string
			Video           bool
			Offset, End     int64
			AtMS            int64 `json:"at_ms"`
			Start, Duration float64
			Sample          float64
		}
		if err := dec.Decode(&rec); err != nil {
			t.Fatal(err)
		}
		if rec.Msg != "trace: chunk from ffmpeg" || rec.File != name || rec.Video != video || rec.AtMS == 0 {
			t.Errorf("%s chunk %d: record %+v", name, n, rec)
		}
		if rec.Offset != end || rec.End <= rec.Offset {
			t.Errorf("%s chunk %d: bytes %d-%d, want from %d", name, n, rec.Offset, rec.End, end)
		}
		// A segment starts on the input's timeline, and each chunk where
		// the one before ends, but with B-frames a chunk's first picture
		// may come before the last of the chunk before it.
		from, to := next, next
		switch {
		case n == 0 && video:
			from, to = 1, 1
		case n == 0:
			from, to = 0, 2
		case bframes:
			from = prev
		}
		if rec.Start < from-0.001 || rec.Start > to+0.001 {
			t.Errorf("%s chunk %d starts at %.3f s, want %.3f–%.3f", name, n, rec.Start, from, to)
		}
		prev = rec.Start
		if video && (rec.Sample < 0.04-1e-9 || rec.Sample > 0.04+1e-9) {
			t.Errorf("%s chunk %d: samples of %.4f s, want 25 fps", name, n, rec.Sample)
		}
		if rec.Duration <= 0 || rec.Duration > 0.3 {
			t.Errorf("%s chunk %d lasts %.3f s", name, n, rec.Duration)
		}
		end, next = rec.End, max(next, rec.Start+rec.Duration)
	}
	if n < 3 || end != size {
		t.Errorf("%s: %d chunks cover %d of %d bytes", name, n, end, size)
	}
}

// The splice traces each live video frame it writes, by the publisher's
// timestamp and the timeline's, but not the sequence header.
func TestSpliceTracesLiveFrames(t *testing.T) {
	t.Parallel()
	w, err := newFLVWriter(io.Discard, true)
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sp := newSplice(w, nil, policy{fps: 25}, log)
	sp.offset, sp.pubAudio = 100, true
	arrived := time.UnixMilli(5000)
	for _, tg := range []tag{
		{typ: tagVideo, ts: 21, body: []byte{0x17, 0, 0, 0, 0}, arrived: arrived}, // sequence header
		{typ: tagVideo, ts: 21, body: []byte{0x17, 1, 0, 0, 0}, arrived: arrived},
		{typ: tagAudio, ts: 30, body: []byte{0xaf, 1, 0}, arrived: arrived},
		{typ: tagVideo, ts: 54, body: []byte{0x27, 1, 0, 0, 0}, arrived: arrived.Add(33 * time.Millisecond)},
	} {
		if err := sp.live(tg); err != nil {
			t.Fatal(err)
		}
	}
	type record struct {
		Msg       string
		PubTS     int64 `json:"pub_ts"`
		TS        int64
		ArrivedMS int64 `json:"arrived_ms"`
	}
	var got []record
	for dec := json.NewDecoder(&logged); dec.More(); {
		var r record
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	want := []record{
		{"trace: video frame to ffmpeg", 21, 121, 5000},
		{"trace: video frame to ffmpeg", 54, 154, 5033},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("records %v, want %v", got, want)
	}
}
