package jobspec

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestValidateRules has a case for every rule: each edit of the valid
// sample must yield exactly the listed field errors (path and sentence), or
// none when want is empty.
func TestValidateRules(t *testing.T) {
	t.Parallel()
	const (
		v0 = "Output.Video_outputs[0]"
		v1 = "Output.Video_outputs[1]"
		a0 = "Output.Audio_outputs[0]"
	)
	tests := []struct {
		name string
		edit func(s *Spec)
		want []FieldError
	}{
		{"sample is valid", func(s *Spec) {}, nil},

		// Playback policy.
		{"playback public", func(s *Spec) { s.Playback_policy = "public" }, nil},
		{"playback signed", func(s *Spec) { s.Playback_policy = "signed" }, nil},
		{"playback policy", func(s *Spec) { s.Playback_policy = "private" },
			[]FieldError{{"Playback_policy", `must be "public" (anyone with the URL plays) or "signed" (only with a viewer token), got "private"`}}},
		{"playback policy is case-sensitive", func(s *Spec) { s.Playback_policy = "Signed" },
			[]FieldError{{"Playback_policy", `must be "public" (anyone with the URL plays) or "signed" (only with a viewer token), got "Signed"`}}},

		// Packaging.
		{"stream type", func(s *Spec) { s.Output.Stream_type = "rtmp" },
			[]FieldError{{"Output.Stream_type", `must be "hls" or "dash", got "rtmp"`}}},
		{"stream type is case-sensitive", func(s *Spec) { s.Output.Stream_type = "DASH" },
			[]FieldError{{"Output.Stream_type", `must be "hls" or "dash", got "DASH"`}}},
		{"hls mpegts", func(s *Spec) { s.Output.Stream_type, s.Output.Segment_format = "hls", "mpegts" }, nil},
		{"hls fmp4", func(s *Spec) { s.Output.Stream_type, s.Output.Segment_format = "hls", "fmp4" }, nil},
		{"hls cmaf", func(s *Spec) { s.Output.Stream_type, s.Output.Segment_format = "hls", "cmaf" }, nil},
		{"dash cmaf", func(s *Spec) { s.Output.Segment_format = "cmaf" }, nil},
		{"dash mpegts", func(s *Spec) { s.Output.Segment_format = "mpegts" },
			[]FieldError{{"Output.Segment_format", `"mpegts" segments cannot be served as DASH: use "fmp4" or "cmaf", or Stream_type "hls"`}}},
		{"segment format", func(s *Spec) { s.Output.Segment_format = "webm" },
			[]FieldError{{"Output.Segment_format", `must be "mpegts", "fmp4" or "cmaf", got "webm"`}}},
		{"segment format with a bad stream type", func(s *Spec) { s.Output.Stream_type, s.Output.Segment_format = "smooth", "mpegts" },
			[]FieldError{{"Output.Stream_type", `must be "hls" or "dash", got "smooth"`}}},
		{"segment duration 1", func(s *Spec) { s.Output.Segment_duration = 1; gop(s, 1) }, nil},
		{"segment duration 30", func(s *Spec) { s.Output.Segment_duration = 30 }, nil},
		{"segment duration too short", func(s *Spec) { s.Output.Segment_duration = 0.5; gop(s, 0.5) },
			[]FieldError{{"Output.Segment_duration", "must be between 1 and 30 seconds, got 0.5"}}},
		{"segment duration too long", func(s *Spec) { s.Output.Segment_duration = 31 },
			[]FieldError{{"Output.Segment_duration", "must be between 1 and 30 seconds, got 31"}}},
		{"DVR window of four hours", func(s *Spec) { s.Output.Time_shift_buffer_depth = 14400 }, nil},
		{"DVR window too long", func(s *Spec) { s.Output.Time_shift_buffer_depth = 14401 },
			[]FieldError{{"Output.Time_shift_buffer_depth", "must be between 0 (the live edge only) and 14400 seconds, got 14401"}}},
		{"negative DVR window", func(s *Spec) { s.Output.Time_shift_buffer_depth = -1 },
			[]FieldError{{"Output.Time_shift_buffer_depth", "must be between 0 (the live edge only) and 14400 seconds, got -1"}}},

		// Low latency.
		{"low latency 1 s", func(s *Spec) { s.Output.Low_latency_mode = true; s.Output.Segment_duration = 1; gop(s, 1) }, nil},
		{"low latency 2 s hls", func(s *Spec) {
			s.Output.Low_latency_mode, s.Output.Stream_type, s.Output.Segment_format = true, "hls", "mpegts"
			s.Output.Segment_duration = 2
		}, nil},
		{"low latency 4 s", func(s *Spec) { s.Output.Low_latency_mode = true; s.Output.Segment_duration = 4 },
			[]FieldError{{"Output.Segment_duration", "must be at most 2 seconds with Low_latency_mode, got 4"}}},
		{"low latency 2.5 s, GOP not dividing", func(s *Spec) { s.Output.Low_latency_mode = true; s.Output.Segment_duration = 2.5 },
			[]FieldError{
				{"Output.Segment_duration", "must be at most 2 seconds with Low_latency_mode, got 2.5"},
				{v0 + ".Gop_size", "must divide Segment_duration (2.5 s) a whole number of times, so that every segment starts on a keyframe; got 2 s"},
				{v1 + ".Gop_size", "must divide Segment_duration (2.5 s) a whole number of times, so that every segment starts on a keyframe; got 2 s"},
			}},
		{"low latency 31 s says the range once", func(s *Spec) { s.Output.Low_latency_mode = true; s.Output.Segment_duration = 31 },
			[]FieldError{{"Output.Segment_duration", "must be between 1 and 30 seconds, got 31"}}},

		// Counts.
		{"audio only", func(s *Spec) { s.Output.Video_outputs = nil }, nil},
		{"video only", func(s *Spec) { s.Output.Audio_outputs = nil }, nil},
		{"no outputs", func(s *Spec) { s.Output.Video_outputs, s.Output.Audio_outputs = nil, []AudioOutput{} },
			[]FieldError{{"Output.Video_outputs", "at least one video or audio output is required"}}},
		{"ten renditions", func(s *Spec) { ladderOf(s, 10) }, nil},
		{"eleven renditions", func(s *Spec) { ladderOf(s, 11) },
			[]FieldError{{"Output.Video_outputs", "at most 10 video renditions are allowed, got 11 (only the first 10 are checked)"}}},
		{"two audio outputs", func(s *Spec) {
			s.Output.Audio_outputs = append(s.Output.Audio_outputs, AudioOutput{Label: "audio64k", Codec: "aac", Bitrate: "64k"})
		}, []FieldError{{"Output.Audio_outputs", "at most 1 audio output is allowed, got 2: every video rendition plays the same audio"}}},

		// Labels.
		{"label empty", func(s *Spec) { s.Output.Video_outputs[0].Label = "" },
			[]FieldError{{v0 + ".Label", `must be 1 to 64 letters, digits, "_" or "-", because it names the rendition's files; got ""`}}},
		{"label with a slash", func(s *Spec) { s.Output.Video_outputs[1].Label = "../etc" },
			[]FieldError{{v1 + ".Label", `must be 1 to 64 letters, digits, "_" or "-", because it names the rendition's files; got "../etc"`}}},
		{"label with a space", func(s *Spec) { s.Output.Audio_outputs[0].Label = "en audio" },
			[]FieldError{{a0 + ".Label", `must be 1 to 64 letters, digits, "_" or "-", because it names the rendition's files; got "en audio"`}}},
		{"label of 64", func(s *Spec) { s.Output.Video_outputs[0].Label = strings.Repeat("a", 64) }, nil},
		{"label of 65", func(s *Spec) { s.Output.Video_outputs[0].Label = strings.Repeat("a", 65) },
			[]FieldError{{v0 + ".Label", fmt.Sprintf(`must be 1 to 64 letters, digits, "_" or "-", because it names the rendition's files; got %q`, strings.Repeat("a", 65))}}},
		{"label used twice", func(s *Spec) { s.Output.Video_outputs[1].Label = "video365k" },
			[]FieldError{{v1 + ".Label", `"video365k" is already used by Output.Video_outputs[0].Label: labels name the renditions' files and must be unique`}}},
		{"label used by video and audio, in another case", func(s *Spec) { s.Output.Audio_outputs[0].Label = "VIDEO550K" },
			[]FieldError{{a0 + ".Label", `"VIDEO550K" is already used by Output.Video_outputs[1].Label: labels name the renditions' files and must be unique`}}},

		// Video codec and size.
		{"h265", func(s *Spec) { s.Output.Video_outputs[1].Codec = "h265" }, nil},
		{"codec", func(s *Spec) { s.Output.Video_outputs[1].Codec = "vp9" },
			[]FieldError{{v1 + ".Codec", `must be "h264" or "h265", got "vp9"`}}},
		{"width odd", func(s *Spec) { s.Output.Video_outputs[1].Width = 767 },
			[]FieldError{{v1 + ".Width", "must be an even number of pixels (4:2:0 video), got 767"}}},
		{"height odd", func(s *Spec) { s.Output.Video_outputs[0].Height = 361 },
			[]FieldError{{v0 + ".Height", "must be an even number of pixels (4:2:0 video), got 361"}}},
		{"width missing", func(s *Spec) { s.Output.Video_outputs[0].Width = 0 },
			[]FieldError{{v0 + ".Width", "is required: an even number of pixels between 64 and 3840"}}},
		{"width too small", func(s *Spec) { s.Output.Video_outputs[0].Width = 62 },
			[]FieldError{{v0 + ".Width", "must be between 64 and 3840 pixels, got 62"}}},
		{"width too large", func(s *Spec) { s.Output.Video_outputs[0].Width = 3842 },
			[]FieldError{{v0 + ".Width", "must be between 64 and 3840 pixels, got 3842"}}},
		{"height negative", func(s *Spec) { s.Output.Video_outputs[0].Height = -360 },
			[]FieldError{{v0 + ".Height", "must be between 64 and 3840 pixels, got -360"}}},
		{"smallest size", func(s *Spec) { size(s, 64, 64) }, nil},
		{"4K", func(s *Spec) { size(s, 3840, 2160) }, nil},
		{"portrait 1080x1920", func(s *Spec) { size(s, 1080, 1920) }, nil},
		{"portrait 4K", func(s *Spec) { size(s, 2160, 3840) }, nil},
		{"more pixels than 4K", func(s *Spec) { size(s, 3840, 2162) },
			[]FieldError{{v0, "a rendition may have at most 3840×2160 pixels, got 3840x2162"}}},

		// Shapes within one DASH ladder.
		{"240p rung of a 16:9 DASH ladder", func(s *Spec) {
			s.Output.Video_outputs[0].Width, s.Output.Video_outputs[0].Height = 426, 240
		}, nil},
		{"4:3 rendition in a 16:9 DASH ladder", func(s *Spec) {
			s.Output.Video_outputs[0].Width, s.Output.Video_outputs[0].Height = 480, 360
		}, []FieldError{{"Output.Video_outputs[0].Height", "a DASH, CMAF or low-latency HLS ladder needs every rendition in the largest one's shape (16:9, within 2%), got 480x360"}}},
		{"4:3 rendition in a 16:9 HLS ladder", func(s *Spec) {
			s.Output.Stream_type, s.Output.Segment_format = "hls", "fmp4"
			s.Output.Video_outputs[0].Width, s.Output.Video_outputs[0].Height = 480, 360
		}, nil},
		{"4:3 rendition in a 16:9 HLS CMAF ladder", func(s *Spec) {
			s.Output.Stream_type, s.Output.Segment_format = "hls", "cmaf"
			s.Output.Video_outputs[0].Width, s.Output.Video_outputs[0].Height = 480, 360
		}, []FieldError{{"Output.Video_outputs[0].Height", "a DASH, CMAF or low-latency HLS ladder needs every rendition in the largest one's shape (16:9, within 2%), got 480x360"}}},
		{"4:3 rendition in a 16:9 LL-HLS ladder", func(s *Spec) {
			s.Output.Stream_type, s.Output.Segment_format, s.Output.Low_latency_mode = "hls", "fmp4", true
			s.Output.Segment_duration = 2
			s.Output.Video_outputs[0].Width, s.Output.Video_outputs[0].Height = 480, 360
		}, []FieldError{{"Output.Video_outputs[0].Height", "a DASH, CMAF or low-latency HLS ladder needs every rendition in the largest one's shape (16:9, within 2%), got 480x360"}}},

		// Frame rate.
		{"frame rate 1", func(s *Spec) { s.Output.Video_outputs[0].Framerate = 1 }, nil},
		{"frame rate 29.97", func(s *Spec) { s.Output.Video_outputs[0].Framerate = 29.97 }, nil},
		{"frame rate 60", func(s *Spec) { s.Output.Video_outputs[0].Framerate = 60 }, nil},
		{"frame rate too low", func(s *Spec) { s.Output.Video_outputs[0].Framerate = 0.5 },
			[]FieldError{{v0 + ".Framerate", "must be between 1 and 60 frames per second, got 0.5"}}},
		{"frame rate too high", func(s *Spec) { s.Output.Video_outputs[1].Framerate = 120 },
			[]FieldError{{v1 + ".Framerate", "must be between 1 and 60 frames per second, got 120"}}},

		// Bitrates.
		{"bitrate 2.5M", func(s *Spec) { rates(s, "2.5M", "3M", "6M") }, nil},
		{"bitrate in bits", func(s *Spec) { rates(s, "800000", "800000", "1600000") }, nil},
		{"bitrate missing", func(s *Spec) { s.Output.Video_outputs[1].Bitrate = "" },
			[]FieldError{{v1 + ".Bitrate", `is required, e.g. "365k", "2.5M" or "800000"`}}},
		{"bitrate unreadable", func(s *Spec) { s.Output.Video_outputs[1].Bitrate = "fast" },
			[]FieldError{{v1 + ".Bitrate", `bitrate "fast" is not a positive number such as 365k, 2.5M or 800000`}}},
		{"bitrate too low", func(s *Spec) { rates(s, "5k", "5k", "10k") },
			[]FieldError{{v0 + ".Bitrate", "must be between 10k and 100M, got 5k"}}},
		{"bitrate too high", func(s *Spec) { rates(s, "101M", "101M", "202M") },
			[]FieldError{{v0 + ".Bitrate", "must be between 10k and 100M, got 101M"}}},
		{"max bitrate below bitrate", func(s *Spec) { s.Output.Video_outputs[1].Max_bitrate = "500k" },
			[]FieldError{{v1 + ".Max_bitrate", "must be at least Bitrate (550k), got 500k"}}},
		{"max bitrate equal", func(s *Spec) { s.Output.Video_outputs[1].Max_bitrate = "550000" }, nil},
		{"max bitrate unreadable", func(s *Spec) { s.Output.Video_outputs[1].Max_bitrate = "1 M" },
			[]FieldError{{v1 + ".Max_bitrate", `bitrate "1 M" is not a positive number such as 365k, 2.5M or 800000`}}},
		{"max bitrate missing", func(s *Spec) { s.Output.Video_outputs[1].Max_bitrate = "" },
			[]FieldError{{v1 + ".Max_bitrate", `is required, e.g. "365k", "2.5M" or "800000"`}}},
		{"buffer zero", func(s *Spec) { s.Output.Video_outputs[0].Buf_size = "0" },
			[]FieldError{{v0 + ".Buf_size", `bitrate "0" is not a positive number such as 365k, 2.5M or 800000`}}},
		{"buffer under one bit", func(s *Spec) { s.Output.Video_outputs[0].Buf_size = "0.5" },
			[]FieldError{{v0 + ".Buf_size", `must be more than 0 bits, got 0.5`}}},
		{"buffer negative", func(s *Spec) { s.Output.Video_outputs[0].Buf_size = "-500k" },
			[]FieldError{{v0 + ".Buf_size", `bitrate "-500k" is not a positive number such as 365k, 2.5M or 800000`}}},
		{"buffer missing", func(s *Spec) { s.Output.Video_outputs[0].Buf_size = "" },
			[]FieldError{{v0 + ".Buf_size", `is required, e.g. "365k", "2.5M" or "800000"`}}},
		{"bad bitrate hides its dependants", func(s *Spec) { rates(s, "x", "", "") },
			[]FieldError{{v0 + ".Bitrate", `bitrate "x" is not a positive number such as 365k, 2.5M or 800000`}}},

		// Encoder.
		{"every preset", func(s *Spec) {
			ladderOf(s, len(Presets))
			for i, p := range Presets {
				s.Output.Video_outputs[i].Preset = p
			}
		}, nil},
		{"preset", func(s *Spec) { s.Output.Video_outputs[0].Preset = "quick" },
			[]FieldError{{v0 + ".Preset", `must be one of ultrafast, superfast, veryfast, faster, fast, medium, slow, slower, veryslow, placebo; got "quick"`}}},
		{"threads 0", func(s *Spec) { s.Output.Video_outputs[0].Threads = 0 }, nil},
		{"threads 16", func(s *Spec) { s.Output.Video_outputs[0].Threads = 16 }, nil},
		{"threads negative", func(s *Spec) { s.Output.Video_outputs[0].Threads = -1 },
			[]FieldError{{v0 + ".Threads", "must be between 0 (the encoder chooses) and 16, got -1"}}},
		{"threads 17", func(s *Spec) { s.Output.Video_outputs[1].Threads = 17 },
			[]FieldError{{v1 + ".Threads", "must be between 0 (the encoder chooses) and 16, got 17"}}},

		// GOP.
		{"gop 0.5", func(s *Spec) { gop(s, 0.5) }, nil},
		{"gop equal to the segment", func(s *Spec) { gop(s, 4) }, nil},
		{"gop 4/3 within tolerance", func(s *Spec) { gop(s, 1.3333333) }, nil},
		{"gop 10 with segments of 30", func(s *Spec) { s.Output.Segment_duration = 30; gop(s, 10) }, nil},
		{"gop too short", func(s *Spec) { s.Output.Video_outputs[0].Gop_size = 0.4 },
			[]FieldError{{v0 + ".Gop_size", "must be between 0.5 and 10 seconds, got 0.4"}}},
		{"gop too long", func(s *Spec) { s.Output.Segment_duration = 30; s.Output.Video_outputs[0].Gop_size = 15 },
			[]FieldError{{v0 + ".Gop_size", "must be between 0.5 and 10 seconds, got 15"}}},
		{"gop not dividing the segment", func(s *Spec) { s.Output.Video_outputs[1].Gop_size = 3 },
			[]FieldError{{v1 + ".Gop_size", "must divide Segment_duration (4 s) a whole number of times, so that every segment starts on a keyframe; got 3 s"}}},
		{"gop longer than the segment", func(s *Spec) { s.Output.Video_outputs[1].Gop_size = 8 },
			[]FieldError{{v1 + ".Gop_size", "must divide Segment_duration (4 s) a whole number of times, so that every segment starts on a keyframe; got 8 s"}}},
		{"gop checked against a bad segment duration only once", func(s *Spec) { s.Output.Segment_duration = 45 },
			[]FieldError{{"Output.Segment_duration", "must be between 1 and 30 seconds, got 45"}}},

		// Audio.
		{"audio codec", func(s *Spec) { s.Output.Audio_outputs[0].Codec = "opus" },
			[]FieldError{{a0 + ".Codec", `must be "aac", got "opus"`}}},
		{"audio 32k", func(s *Spec) { s.Output.Audio_outputs[0].Bitrate = "32k" }, nil},
		{"audio 512k", func(s *Spec) { s.Output.Audio_outputs[0].Bitrate = "512000" }, nil},
		{"audio too low", func(s *Spec) { s.Output.Audio_outputs[0].Bitrate = "16k" },
			[]FieldError{{a0 + ".Bitrate", "must be between 32k and 512k, got 16k"}}},
		{"audio too high", func(s *Spec) { s.Output.Audio_outputs[0].Bitrate = "0.6M" },
			[]FieldError{{a0 + ".Bitrate", "must be between 32k and 512k, got 0.6M"}}},
		{"audio bitrate missing", func(s *Spec) { s.Output.Audio_outputs[0].Bitrate = "" },
			[]FieldError{{a0 + ".Bitrate", `is required, e.g. "365k", "2.5M" or "800000"`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := sampleSpec()
			tt.edit(&s)
			assertFieldErrors(t, Validate(s), tt.want)
		})
	}
}

// TestValidateAllAtOnce breaks many rules in one spec: every problem must
// come back in one error, in the order of the spec.
func TestValidateAllAtOnce(t *testing.T) {
	t.Parallel()
	s := sampleSpec()
	o := &s.Output
	o.Stream_type, o.Segment_duration = "dash", 50
	o.Segment_format = "mpegts"
	o.Video_outputs[0].Codec, o.Video_outputs[0].Width = "av1", 641
	o.Video_outputs[1].Label, o.Video_outputs[1].Bitrate, o.Video_outputs[1].Preset = "video365k", "1M", "turbo"
	o.Video_outputs[1].Gop_size = 20
	o.Audio_outputs[0].Codec, o.Audio_outputs[0].Bitrate = "mp3", "8k"
	assertFieldErrors(t, Validate(s), []FieldError{
		{"Output.Segment_format", `"mpegts" segments cannot be served as DASH: use "fmp4" or "cmaf", or Stream_type "hls"`},
		{"Output.Segment_duration", "must be between 1 and 30 seconds, got 50"},
		{"Output.Video_outputs[0].Codec", `must be "h264" or "h265", got "av1"`},
		{"Output.Video_outputs[0].Width", "must be an even number of pixels (4:2:0 video), got 641"},
		{"Output.Video_outputs[1].Label", `"video365k" is already used by Output.Video_outputs[0].Label: labels name the renditions' files and must be unique`},
		{"Output.Video_outputs[1].Max_bitrate", "must be at least Bitrate (1M), got 750k"},
		{"Output.Video_outputs[1].Preset", `must be one of ultrafast, superfast, veryfast, faster, fast, medium, slow, slower, veryslow, placebo; got "turbo"`},
		{"Output.Video_outputs[1].Gop_size", "must be between 0.5 and 10 seconds, got 20"},
		{"Output.Audio_outputs[0].Codec", `must be "aac", got "mp3"`},
		{"Output.Audio_outputs[0].Bitrate", "must be between 32k and 512k, got 8k"},
	})
}

// A huge ladder is refused with one error for the count, not one per field.
func TestValidateHugeLadderBounded(t *testing.T) {
	t.Parallel()
	s := sampleSpec()
	s.Output.Video_outputs = make([]VideoOutput, 10_000)
	err := Validate(s)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Validate = %v, want *Error", err)
	}
	if e.Fields[0].Field != "Output.Video_outputs" {
		t.Errorf("first error %v, want the count", e.Fields[0])
	}
	for _, f := range e.Fields {
		if strings.HasPrefix(f.Field, "Output.Video_outputs[10]") {
			t.Fatalf("rendition past the cap was checked: %v", f)
		}
	}
}

func assertFieldErrors(t *testing.T, err error, want []FieldError) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("Validate = %v, want nil", err)
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) || e.Code != EINVALID || e.Message != "invalid live job spec" {
		t.Fatalf("Validate = %#v, want *Error{Code: EINVALID, Message: invalid live job spec}", err)
	}
	if !slices.Equal(e.Fields, want) {
		t.Errorf("fields:\n got %q\nwant %q", e.Fields, want)
	}
}

// size makes the ladder one rendition of w×h, so that only the size rules
// apply (a second rendition of another shape would be a DASH shape error).
func size(s *Spec, w, h int) {
	s.Output.Video_outputs = s.Output.Video_outputs[:1]
	s.Output.Video_outputs[0].Width, s.Output.Video_outputs[0].Height = w, h
}

func rates(s *Spec, rate, maxRate, buf string) {
	v := &s.Output.Video_outputs[0]
	v.Bitrate, v.Max_bitrate, v.Buf_size = rate, maxRate, buf
}

func gop(s *Spec, g float64) {
	for i := range s.Output.Video_outputs {
		s.Output.Video_outputs[i].Gop_size = g
	}
}

// ladderOf replaces the ladder with n valid renditions.
func ladderOf(s *Spec, n int) {
	base := s.Output.Video_outputs[0]
	s.Output.Video_outputs = nil
	for i := range n {
		v := base
		v.Label = fmt.Sprintf("v%d", i)
		s.Output.Video_outputs = append(s.Output.Video_outputs, v)
	}
}
