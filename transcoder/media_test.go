package transcoder

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ezlivestreaming/ezlive/jobspec"
)

// smallLadder keeps the matrix cheap: two small renditions at different
// frame rates (so GOP alignment by time is tested), h264 or h265.
func smallLadder(streamType, format string, segDur float64, codec2 string) jobspec.Spec {
	s := jobspec.Spec{Output: jobspec.Output{
		Stream_type: streamType, Segment_format: format, Segment_duration: segDur,
		Video_outputs: []jobspec.VideoOutput{
			{Label: "low", Codec: "h264", Framerate: 25, Width: 320, Height: 180, Bitrate: "250k", Max_bitrate: "350k", Buf_size: "350k", Preset: "veryfast", Threads: 1, Gop_size: 1},
			{Label: "mid", Codec: codec2, Framerate: 15, Width: 480, Height: 270, Bitrate: "400k", Max_bitrate: "550k", Buf_size: "550k", Preset: "veryfast", Threads: 1, Gop_size: 2},
		},
		Audio_outputs: []jobspec.AudioOutput{{Label: "audio96k", Codec: "aac", Bitrate: "96k"}},
	}}
	return mustValid(s)
}

func sampleLadder(t *testing.T) jobspec.Spec {
	t.Helper()
	b, err := os.ReadFile("../jobspec/testdata/sample_live_job.json")
	if err != nil {
		t.Fatal(err)
	}
	var s jobspec.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return mustValid(s)
}

// mustValid defaults and validates a test spec. Unless the spec says
// otherwise its reconnect window is 0: the stream ends when the publisher
// leaves, which the tests of a finished stream wait for.
func mustValid(s jobspec.Spec) jobspec.Spec {
	if s.Input_loss == nil {
		s = withWindow(s, 0)
	}
	jobspec.Defaults(&s)
	if err := jobspec.Validate(s); err != nil {
		panic(err)
	}
	return s
}

// withWindow sets the spec's reconnect window, in seconds.
func withWindow(s jobspec.Spec, seconds float64) jobspec.Spec {
	s.Input_loss = &jobspec.InputLoss{Reconnect_window: &seconds}
	return s
}

// TestMediaMatrix pushes a synthetic feed through the transcoder for every
// legal stream type × segment format and checks what reached the origin.
func TestMediaMatrix(t *testing.T) {
	cases := []struct {
		name  string
		spec  func(*testing.T) jobspec.Spec
		media float64
	}{
		{"hls-mpegts", func(*testing.T) jobspec.Spec { return smallLadder("hls", "mpegts", 2, "h264") }, 10},
		{"hls-fmp4-h265", func(*testing.T) jobspec.Spec { return smallLadder("hls", "fmp4", 2, "h265") }, 10},
		{"hls-cmaf", func(*testing.T) jobspec.Spec { return smallLadder("hls", "cmaf", 2, "h264") }, 10},
		{"dash-fmp4-sample-ladder", sampleLadder, 12},
		{"dash-cmaf", func(*testing.T) jobspec.Spec { return smallLadder("dash", "cmaf", 2, "h264") }, 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			spec := c.spec(t)
			j := startJob(t, c.name, spec)
			publish(t, j.ingestURL(), c.media, "854x480")
			j.waitRunsEnded(t, 1)
			j.stop(t)
			checkPublished(t, j, spec, c.media)
		})
	}
}

// checkPublished checks every manifest the spec promises.
func checkPublished(t *testing.T, j *job, spec jobspec.Spec, media float64) {
	t.Helper()
	dir := j.origin.Path(j.id, "")
	if _, denied, over := j.origin.snapshot(); denied > 0 || len(over) > 0 {
		t.Errorf("origin denied %d writes; segments overwritten: %v", denied, over)
	}
	var segs [][]string
	for _, m := range jobspec.ManifestNames(spec) {
		var video, audio []rendition
		if filepath.Ext(m) == ".mpd" {
			var typ string
			video, audio, typ = parseMPD(t, dir)
			if typ != "static" {
				t.Errorf("master.mpd type %q after the stream ended, want static", typ)
			}
		} else {
			video, audio = parseHLSMaster(t, dir)
		}
		t.Run(m, func(t *testing.T) { checkRenditions(t, dir, spec, video, audio, media) })
		segs = append(segs, segmentNames(video, audio))
	}
	if len(segs) == 2 && !slices.Equal(segs[0], segs[1]) {
		t.Errorf("cmaf: the manifests reference different segments:\n%v\n%v", segs[0], segs[1])
	}
}

func segmentNames(lists ...[]rendition) []string {
	var names []string
	for _, l := range lists {
		for _, r := range l {
			names = append(names, r.init)
			for _, s := range r.segments {
				names = append(names, s.name)
			}
		}
	}
	slices.Sort(names)
	return names
}

func checkRenditions(t *testing.T, dir string, spec jobspec.Spec, video, audio []rendition, media float64) {
	o := spec.Output
	if len(video) != len(o.Video_outputs) {
		t.Fatalf("manifest lists %d video renditions, want %d", len(video), len(o.Video_outputs))
	}
	for _, r := range video {
		if !r.ended {
			t.Errorf("%s: not ended (no ENDLIST / not static) after a clean finish", r.name)
		}
		i := slices.IndexFunc(o.Video_outputs, func(v jobspec.VideoOutput) bool { return v.Width == r.width && v.Height == r.height })
		if i < 0 {
			t.Errorf("manifest lists %s at %dx%d, which the spec does not ask for", r.name, r.width, r.height)
			continue
		}
		v := o.Video_outputs[i]
		if r.fps != 0 && !near(r.fps, v.Framerate, 0.01) {
			t.Errorf("%s: manifest frame rate %.3f, want %v", r.name, r.fps, v.Framerate)
		}
		t.Run(v.Label, func(t *testing.T) { checkVideo(t, dir, r, v, o, media) })
	}
	if len(o.Audio_outputs) > 0 && o.Segment_format != "mpegts" {
		if len(audio) != 1 {
			t.Fatalf("manifest lists %d audio renditions, want 1", len(audio))
		}
		a := probe(t, joinMedia(t, dir, audio[0]), "a:0")
		if a.codec != "aac" || a.last-a.first < media/2 {
			t.Errorf("audio: codec %s covering %.1f s, want aac covering about %v s", a.codec, a.last-a.first, media)
		}
	}
}

func checkVideo(t *testing.T, dir string, r rendition, v jobspec.VideoOutput, o jobspec.Output, media float64) {
	file := joinMedia(t, dir, r)
	p := probe(t, file, "v:0")
	wantCodec := map[string]string{"h264": "h264", "h265": "hevc"}[v.Codec]
	if p.codec != wantCodec || p.width != v.Width || p.height != v.Height || !near(p.rate, v.Framerate, 0.01) {
		t.Errorf("stream is %s %dx%d@%.3f, want %s %dx%d@%v", p.codec, p.width, p.height, p.rate, wantCodec, v.Width, v.Height, v.Framerate)
	}
	frame := 1 / v.Framerate
	dur := p.last - p.first + frame
	if got := float64(len(p.packets)) / dur; !near(got, v.Framerate, 0.02*v.Framerate) {
		t.Errorf("measured %.2f frames/s, want %v", got, v.Framerate)
	}
	// A publisher that leaves resets its connection, so what ffmpeg had not
	// read yet is lost: on a busy machine the tail may be missing.
	if dur < media/2 {
		t.Errorf("published %.1f s of video, want about %v s", dur, media)
	}
	target, _ := jobspec.ParseBitrate(v.Bitrate)
	if got := float64(p.bytes*8) / dur; math.Abs(got/float64(target)-1) > 0.25 {
		t.Errorf("measured %.0f bit/s, want %d ±25%%", got, target)
	} else {
		t.Logf("%s: %.0f bit/s for target %d (%.0f%%)", v.Label, got, target, 100*got/float64(target))
	}
	checkKeyframes(t, p.keyframesAt, v.Gop_size, dur, frame)
	for i, s := range r.segments[:len(r.segments)-1] { // the last one may be cut short
		if !near(s.dur, o.Segment_duration, frame/2+0.01) {
			t.Errorf("segment %d (%s) lasts %.3f s, want %v", i, s.name, s.dur, o.Segment_duration)
		}
	}
	if len(r.segments) < int(media/o.Segment_duration/2) {
		t.Errorf("%d segments for %v s of media at %v s each", len(r.segments), media, o.Segment_duration)
	}
	if o.Segment_format == "mpegts" && len(o.Audio_outputs) > 0 {
		if a := probe(t, file, "a:0"); a.codec != "aac" || a.last-a.first < media/2 {
			t.Errorf("variant audio: %s covering %.1f s, want aac covering about %v s", a.codec, a.last-a.first, media)
		}
	}
}

// checkKeyframes: a keyframe on every GOP boundary and nowhere else.
func checkKeyframes(t *testing.T, keys []float64, gop, dur, frame float64) {
	t.Helper()
	for _, k := range keys {
		if n := math.Round(k / gop); !near(k, n*gop, frame/2) {
			t.Errorf("keyframe at %.3f s is off the %v s GOP grid", k, gop)
		}
	}
	for n := 0; float64(n)*gop < dur-frame; n++ {
		if !slices.ContainsFunc(keys, func(k float64) bool { return near(k, float64(n)*gop, frame/2) }) {
			t.Errorf("no keyframe at GOP boundary %.3f s (keyframes at %v)", float64(n)*gop, keys)
		}
	}
}
