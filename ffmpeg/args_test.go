package ffmpeg

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ezlivestreaming/ezlive/jobspec"
)

func ffSampleSpec(t *testing.T) jobspec.Spec {
	t.Helper()
	b, err := os.ReadFile("../jobspec/testdata/sample_live_job.json")
	if err != nil {
		t.Fatal(err)
	}
	var s jobspec.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	jobspec.Defaults(&s)
	return s
}

var ffTarget = Target{
	OutputURL:   "http://127.0.0.1:1081/live/j/",
	UploadToken: "t0k", Period: 3, Generation: 7,
}

// opt returns the value following flag in args, and whether it is there
// exactly once.
func opt(args []string, flag string) (string, bool) {
	v, n := "", 0
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag {
			v, n = args[i+1], n+1
		}
	}
	return v, n == 1
}

func TestFFmpegArgsLadder(t *testing.T) {
	s := ffSampleSpec(t)
	args := packaging(Args(s, ffTarget))
	if in, _ := opt(args, "-i"); in != "pipe:0" || slices.Contains(args, "-listen") {
		t.Errorf("input %q, want the transcoder's FLV on standard input", in)
	}
	graph, _ := opt(args, "-filter_complex")
	if strings.Count(graph, "split=3") != 1 || strings.Count(graph, "[0:v") != 1 {
		t.Errorf("filter graph %q should decode once and split in three: two renditions and the thumbnail", graph)
	}
	// Every rendition's rate control and GOP carry its own stream
	// specifier: a bare -b:v would only reach the first.
	for i, v := range s.Output.Video_outputs {
		sp := ":v:" + string(rune('0'+i))
		gop := map[int]string{0: "50", 1: "50"}[i]
		want := map[string]string{
			"-b" + sp: v.Bitrate, "-maxrate" + sp: v.Max_bitrate, "-bufsize" + sp: v.Buf_size,
			"-preset" + sp: v.Preset, "-g" + sp: gop, "-keyint_min" + sp: gop, "-c" + sp: "libx264",
			"-sc_threshold" + sp: "0", "-force_key_frames" + sp: "expr:gte(t,n_forced*2)",
		}
		for flag, val := range want {
			if got, once := opt(args, flag); got != val || !once {
				t.Errorf("%s = %q (once: %v), want %q", flag, got, once, val)
			}
		}
		if !strings.Contains(graph, "scale=768:432") && i == 1 || !strings.Contains(graph, "fps=25,scale=640:360") {
			t.Errorf("filter graph %q lacks rendition %d's fps and size", graph, i)
		}
	}
	for _, bare := range []string{"-b:v", "-maxrate", "-bufsize", "-g"} {
		if slices.Contains(args, bare) {
			t.Errorf("argument %s without a stream index applies to the first stream only", bare)
		}
	}
	if n := strings.Count(strings.Join(args, " "), "-c:a:"); n != 1 {
		t.Errorf("audio encoded %d times for DASH, want once", n)
	}
	if out := args[len(args)-1]; out != ffTarget.OutputURL+"master.mpd" {
		t.Errorf("output %q", out)
	}
	if seg, _ := opt(args, "-media_seg_name"); !strings.Contains(seg, "g7p3") {
		t.Errorf("segment names %q do not carry the run (generation 7, period 3)", seg)
	}
	if h, _ := opt(args, "-http_opts"); h != `headers=Authorization\: Bearer t0k\`+"\r"+`\`+"\n" {
		t.Errorf("http_opts %q", h)
	}
}

func TestFFmpegArgsPackaging(t *testing.T) {
	cases := []struct {
		stream, format string
		manifests      []string
		want           map[string]string // option → value
		audioEncodes   int
	}{
		{"hls", "mpegts", []string{"master.m3u8"}, map[string]string{
			"-f": "hls", "-hls_segment_type": "mpegts", "-var_stream_map": "v:0,a:0,name:video365k v:1,a:1,name:video550k",
			"-hls_start_number_source": "epoch", "-hls_segment_filename": ffTarget.OutputURL + "%v-g7p3-%d.ts",
		}, 2},
		{"hls", "fmp4", []string{"master.m3u8"}, map[string]string{
			"-f": "hls", "-hls_segment_type": "fmp4",
			"-var_stream_map":         "v:0,agroup:audio,name:video365k v:1,agroup:audio,name:video550k a:0,agroup:audio,name:audio128k",
			"-hls_fmp4_init_filename": "%v-g7p3-init.mp4",
		}, 1},
		{"hls", "cmaf", []string{"master.m3u8", "master.mpd"}, map[string]string{"-f": "dash", "-hls_playlist": "1"}, 1},
		{"dash", "fmp4", []string{"master.mpd"}, map[string]string{"-f": "dash", "-adaptation_sets": "id=0,streams=v id=1,streams=a"}, 1},
		{"dash", "cmaf", []string{"master.mpd", "master.m3u8"}, map[string]string{"-f": "dash", "-hls_playlist": "1"}, 1},
	}
	for _, c := range cases {
		t.Run(c.stream+"-"+c.format, func(t *testing.T) {
			s := ffSampleSpec(t)
			s.Output.Stream_type, s.Output.Segment_format = c.stream, c.format
			if got := jobspec.ManifestNames(s); !slices.Equal(got, c.manifests) {
				t.Errorf("ManifestNames = %v, want %v", got, c.manifests)
			}
			args := packaging(Args(s, ffTarget))
			for flag, val := range c.want {
				got, once := opt(args, flag)
				if flag == "-f" { // the input's -f flv comes first
					i := len(args) - 1
					for args[i] != "-f" {
						i--
					}
					got, once = args[i+1], slices.Index(args, "-f") < i
				}
				if got != val || !once {
					t.Errorf("%s = %q (once: %v), want %q", flag, got, once, val)
				}
			}
			if n := strings.Count(strings.Join(args, " "), "-c:a:"); n != c.audioEncodes {
				t.Errorf("audio encoded %d times, want %d", n, c.audioEncodes)
			}
		})
	}
}

func TestFFmpegArgsAudioOnlyAndNoToken(t *testing.T) {
	s := ffSampleSpec(t)
	s.Output.Stream_type, s.Output.Segment_format = "hls", "mpegts"
	s.Output.Video_outputs = nil
	tgt := ffTarget
	tgt.UploadToken = ""
	args := Args(s, tgt)
	if _, ok := opt(args, "-filter_complex"); ok {
		t.Error("audio-only job has a video filter graph")
	}
	if m, _ := opt(args, "-var_stream_map"); m != "a:0,name:audio128k" {
		t.Errorf("var_stream_map %q", m)
	}
	if _, ok := opt(args, "-headers"); ok {
		t.Error("Authorization header sent without a token")
	}
}

func TestFFmpegArgsH265(t *testing.T) {
	s := ffSampleSpec(t)
	s.Output.Video_outputs[1].Codec = "h265"
	args := Args(s, ffTarget)
	if c, _ := opt(args, "-c:v:1"); c != "libx265" {
		t.Errorf("-c:v:1 = %q", c)
	}
	if p, _ := opt(args, "-x265-params:v:1"); !strings.Contains(p, "keyint=50:min-keyint=50:scenecut=0") {
		t.Errorf("x265 params %q do not fix the GOP", p)
	}
	if tag, _ := opt(args, "-tag:v:1"); tag != "hvc1" {
		t.Errorf("h265 in fmp4 tagged %q, want hvc1", tag)
	}
}

func TestFFmpegArgsLowLatency(t *testing.T) {
	const timeURL = "http://127.0.0.1:1081/time"
	dashLL := map[string]string{
		"-ldash": "1", "-streaming": "1", "-frag_type": "duration", "-frag_duration": "0.5",
		"-write_prft": "1", "-use_timeline": "0", "-target_latency": "1.5", "-utc_timing_url": timeURL,
		"-analyzeduration": "500000",
	}
	cases := []struct {
		name           string
		stream, format string
		segment        float64
		low            bool
		timeURL        string
		want           map[string]string // option → value
		absent         []string
	}{
		{"dash normal", "dash", "fmp4", 4, false, timeURL,
			map[string]string{"-use_timeline": "1"},
			[]string{"-tune:v:0", "-ldash", "-streaming", "-frag_duration", "-write_prft", "-utc_timing_url", "-target_latency"}},
		{"dash low latency", "dash", "fmp4", 1, true, timeURL, dashLL, nil},
		{"dash cmaf low latency", "dash", "cmaf", 2, true, timeURL, dashLL, nil},
		{"hls cmaf low latency", "hls", "cmaf", 1, true, timeURL, dashLL, nil},
		{"dash low latency without a clock", "dash", "fmp4", 1, true, "",
			map[string]string{"-ldash": "1", "-use_timeline": "0"}, []string{"-utc_timing_url"}},
		{"hls mpegts low latency", "hls", "mpegts", 1, true, timeURL,
			map[string]string{"-hls_time": "1", "-tune:v:1": "zerolatency", "-analyzeduration": "500000"},
			[]string{"-ldash", "-streaming", "-utc_timing_url", "-write_prft"}},
		// LL-HLS: the dash muxer's chunks and its master playlist; the
		// transcoder writes the media playlists.
		{"hls fmp4 low latency", "hls", "fmp4", 2, true, timeURL,
			withOpts(dashLL, "-hls_playlist", "1", "-hls_master_name", jobspec.HLSMaster), []string{"-hls_time"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := ffSampleSpec(t)
			s.Output.Stream_type, s.Output.Segment_format = c.stream, c.format
			s.Output.Segment_duration, s.Output.Low_latency_mode = c.segment, jobspec.Flag(c.low)
			for i := range s.Output.Video_outputs {
				s.Output.Video_outputs[i].Gop_size = min(c.segment, 2)
			}
			target := ffTarget
			target.TimeURL = c.timeURL
			args := packaging(Args(s, target))
			for flag, val := range c.want {
				if got, once := opt(args, flag); got != val || !once {
					t.Errorf("%s = %q (once: %v), want %q", flag, got, once, val)
				}
			}
			for _, flag := range c.absent {
				if slices.Contains(args, flag) {
					t.Errorf("%s is set: %q", flag, args)
				}
			}
			for _, flag := range []string{"-tune:v:0", "-tune:v:1"} {
				if got, _ := opt(args, flag); c.low != (got == "zerolatency") {
					t.Errorf("%s = %q with Low_latency_mode %v", flag, got, c.low)
				}
			}
			if args[len(args)-1] != ffTarget.OutputURL+jobspec.ManifestNames(s)[0] && c.stream == "dash" {
				t.Errorf("output %q is not the last argument", args[len(args)-1])
			}
		})
	}
}

func withOpts(m map[string]string, kv ...string) map[string]string {
	out := maps.Clone(m)
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// Low latency with DRM stays on the hls muxer: encrypted segments are
// written whole, so they cannot be LL-HLS parts.
func TestLowLatencyHLSNeedsClearFMP4(t *testing.T) {
	cases := []struct {
		stream, format string
		drm            bool
		want           bool
		warn           bool
	}{
		{"hls", "fmp4", false, true, false},
		{"hls", "cmaf", false, true, false},
		{"dash", "cmaf", false, true, false},
		{"dash", "fmp4", false, false, false},
		{"hls", "mpegts", false, false, true},
		{"hls", "fmp4", true, false, true},
		{"dash", "cmaf", true, false, true},
	}
	for _, c := range cases {
		s := ffSampleSpec(t)
		s.Output.Stream_type, s.Output.Segment_format, s.Output.Low_latency_mode = c.stream, c.format, true
		if c.drm {
			s.Output.Drm = &jobspec.Drm{Protection_system: "ClearKey"}
		}
		name := fmt.Sprintf("%s %s drm=%v", c.stream, c.format, c.drm)
		if got := jobspec.LowLatencyHLS(s.Output); got != c.want {
			t.Errorf("%s: LowLatencyHLS = %v, want %v", name, got, c.want)
		}
		if w := jobspec.LowLatencyHLSWarning(s.Output); (w != "") != c.warn {
			t.Errorf("%s: warning %q, want one: %v", name, w, c.warn)
		}
		hlsMuxer := slices.Contains(Args(s, ffTarget), "-hls_time")
		if want := c.stream == "hls" && c.format != "cmaf" && !c.want; hlsMuxer != want {
			t.Errorf("%s: hls muxer used: %v, want %v", name, hlsMuxer, want)
		}
		s.Output.Low_latency_mode = false
		if jobspec.LowLatencyHLS(s.Output) || jobspec.LowLatencyHLSWarning(s.Output) != "" {
			t.Errorf("%s: LL-HLS without Low_latency_mode", name)
		}
	}
}

func TestLowLatencyPartTargetCoversTheLongestChunk(t *testing.T) {
	for _, c := range []struct {
		fps  []float64
		want float64
	}{
		{[]float64{25}, 0.54},         // 13 frames of 40 ms
		{[]float64{30, 60}, 0.534},    // a frame of 33.3 ms
		{nil, 0.524},                  // audio only: 1024 samples at 44.1 kHz
		{[]float64{50, 29.97}, 0.534}, // the longest frame counts
	} {
		var o jobspec.Output
		for _, f := range c.fps {
			o.Video_outputs = append(o.Video_outputs, jobspec.VideoOutput{Framerate: f})
		}
		if got := LowLatencyPartTarget(o); got != c.want {
			t.Errorf("fps %v: part target %v, want %v", c.fps, got, c.want)
		}
	}
}

func TestParseDASHFile(t *testing.T) {
	for _, c := range []struct {
		name string
		want DASHFile
		ok   bool
	}{
		{"init-g3p1-0.mp4", DASHFile{Run: "g3p1", Representation: 0, Init: true}, true},
		{"chunk-g3p1-2-00017.m4s", DASHFile{Run: "g3p1", Representation: 2}, true},
		{DASHInitName("g12p0", 4), DASHFile{Run: "g12p0", Representation: 4, Init: true}, true},
		{"chunk-g3p1-2.m4s", DASHFile{}, false},
		{"chunk-g3p1-x-00001.m4s", DASHFile{}, false},
		{"chunk-3p1-0-00001.m4s", DASHFile{}, false},
		{"init-g3p1-0.m4s", DASHFile{}, false},
		{"video-g1p0-5.m4s", DASHFile{}, false},
		{"master.mpd", DASHFile{}, false},
	} {
		got, ok := ParseDASHFile(c.name)
		if got != c.want || ok != c.ok {
			t.Errorf("ParseDASHFile(%q) = %+v, %v; want %+v, %v", c.name, got, ok, c.want, c.ok)
		}
	}
	for name, want := range map[string]int{"media_0.m3u8": 0, HLSMediaPlaylist(12): 12} {
		if n, ok := ParseHLSMediaPlaylist(name); !ok || n != want {
			t.Errorf("ParseHLSMediaPlaylist(%q) = %d, %v", name, n, ok)
		}
	}
	for _, name := range []string{"media_.m3u8", "media_1.mpd", "master.m3u8", "media_-1.m3u8"} {
		if _, ok := ParseHLSMediaPlaylist(name); ok {
			t.Errorf("ParseHLSMediaPlaylist(%q) accepted", name)
		}
	}
}

// A 426x240 rung of a 16:9 ladder is shown at 16:9 (SAR 640:639), which the
// DASH muxer requires of one adaptation set.
func TestFFmpegArgsKeepTheLadderAspect(t *testing.T) {
	spec := jobspec.Spec{Output: jobspec.Output{Stream_type: "dash", Segment_format: "fmp4", Segment_duration: 4,
		Video_outputs: []jobspec.VideoOutput{
			{Label: "v1", Codec: "h264", Framerate: 25, Width: 640, Height: 360, Bitrate: "600k", Max_bitrate: "600k", Buf_size: "1M", Preset: "veryfast", Gop_size: 2},
			{Label: "v2", Codec: "h264", Framerate: 25, Width: 426, Height: 240, Bitrate: "300k", Max_bitrate: "300k", Buf_size: "600k", Preset: "veryfast", Gop_size: 2},
		},
		Audio_outputs: []jobspec.AudioOutput{{Label: "a", Codec: "aac", Bitrate: "128k"}},
	}}
	args := strings.Join(Args(spec, Target{OutputURL: "http://127.0.0.1:2/live/j/"}), " ")
	for _, want := range []string{"scale=640:360,setsar=1/1", "scale=426:240,setsar=640/639", "-aspect:v:0 16:9", "-aspect:v:1 16:9"} {
		if !strings.Contains(args, want) {
			t.Errorf("args lack %q:\n%s", want, args)
		}
	}
}

// The audio always comes from the one input: the transcoder fills in
// silence for a publisher that sends none.
func TestFFmpegArgsOneInput(t *testing.T) {
	spec := jobspec.Spec{Output: jobspec.Output{Stream_type: "hls", Segment_format: "mpegts", Segment_duration: 2,
		Video_outputs: []jobspec.VideoOutput{{Label: "v", Codec: "h264", Framerate: 25, Width: 640, Height: 360, Bitrate: "600k", Max_bitrate: "600k", Buf_size: "1M", Preset: "veryfast", Gop_size: 2}},
		Audio_outputs: []jobspec.AudioOutput{{Label: "a", Codec: "aac", Bitrate: "128k"}},
	}}
	args := strings.Join(Args(spec, Target{Input: "in.flv", OutputURL: "http://127.0.0.1:2/live/j/"}), " ")
	if strings.Count(args, " -i ") != 1 || !strings.Contains(args, "-f flv -i in.flv") || !strings.Contains(args, "-map 0:a:0") {
		t.Errorf("want one FLV input and its audio:\n%s", args)
	}
}

// Outside low-latency mode the lookahead is the preset's, capped at
// MaxLookahead; low-latency mode has none (zerolatency).
func TestLookahead(t *testing.T) {
	for _, c := range []struct {
		codec, preset string
		fps           float64
		want          int
	}{
		{"h264", "faster", 25, 10}, {"h264", "veryfast", 60, 10}, {"h264", "ultrafast", 25, 0},
		{"h264", "medium", 60, 24}, {"h265", "faster", 25, 10}, {"h265", "ultrafast", 30, 5},
	} {
		v := jobspec.VideoOutput{Codec: c.codec, Preset: c.preset, Framerate: c.fps}
		if got := LookaheadFrames(v); got != c.want {
			t.Errorf("%s %s at %g fps: lookahead %d, want %d", c.codec, c.preset, c.fps, got, c.want)
		}
	}
	s := ffSampleSpec(t)
	args := Args(s, ffTarget)
	if got, _ := opt(args, "-rc-lookahead:v:0"); got != strconv.Itoa(LookaheadFrames(s.Output.Video_outputs[0])) {
		t.Errorf("-rc-lookahead:v:0 = %q", got)
	}
	if got, _ := opt(args, "-x264-params:v:1"); got != "sync-lookahead=0" {
		t.Errorf("-x264-params:v:1 = %q", got)
	}
	s.Output.Low_latency_mode, s.Output.Segment_duration = true, 2
	if args := Args(s, ffTarget); slices.Contains(args, "-rc-lookahead:v:0") {
		t.Error("low-latency mode has a lookahead")
	}
}

// TestFFmpegArgsDVRWindow: the manifests list the segments of the DVR
// window, and ffmpeg deletes only what falls out of it.
func TestFFmpegArgsDVRWindow(t *testing.T) {
	for _, stream := range []string{"hls", "dash"} {
		s := ffSampleSpec(t)
		s.Output.Stream_type, s.Output.Segment_format = stream, "fmp4"
		s.Output.Time_shift_buffer_depth = 120 // 30 segments of 4 s
		flag := map[string]string{"hls": "-hls_list_size", "dash": "-window_size"}[stream]
		if got, once := opt(Args(s, ffTarget), flag); got != "30" || !once {
			t.Errorf("%s: %s = %q (once: %v), want 30", stream, flag, got, once)
		}
	}
}

// TestFFmpegArgsThumbnail: a job with video and no DRM gets its thumbnail
// from the one decode, as the last output: ffmpeg's progress reports the
// frames of the first output's video, which must be a rendition's.
func TestFFmpegArgsThumbnail(t *testing.T) {
	s := ffSampleSpec(t)
	args := strings.Join(Args(s, ffTarget), " ")
	want := " -map [thumb] -c:v mjpeg -q:v 5 -f image2 -update 1 -http_persistent 0 " + ffTarget.OutputURL + "thumbnail.jpg"
	if !strings.HasSuffix(args, want) {
		t.Errorf("argv does not end with the thumbnail output %q:\n%s", want, args)
	}
	if !strings.Contains(args, "[st]fps=1/2,scale=640:360,setsar=1[thumb]") {
		t.Errorf("no thumbnail branch at the first rendition's size every 2 s:\n%s", args)
	}
	s.Output.Drm = &jobspec.Drm{}
	if args := strings.Join(Args(s, ffTarget), " "); strings.Contains(args, "thumb") {
		t.Errorf("a DRM job gets a clear thumbnail:\n%s", args)
	}
}

// packaging is argv up to the packaging output, without the thumbnail
// output that follows it.
func packaging(args []string) []string {
	for i := range args[:len(args)-1] {
		if args[i] == "-map" && args[i+1] == "[thumb]" {
			return args[:i]
		}
	}
	return args
}
