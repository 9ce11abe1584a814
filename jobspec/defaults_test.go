package jobspec

import (
	"reflect"
	"slices"
	"testing"
)

func TestDefaultsMinimalSpec(t *testing.T) {
	t.Parallel()
	s, warnings, err := Parse([]byte(`{"Output": {
		"Video_outputs": [{"Width": 1280, "Height": 720, "Bitrate": "2.5M"}, {"Width": 640, "Height": 360, "Bitrate": "800500"}],
		"Audio_outputs": [{}]}}`))
	if err != nil || len(warnings) != 0 {
		t.Fatalf("Parse = %v, warnings %q", err, warnings)
	}
	want := Spec{Output: Output{
		Stream_type: "hls", Segment_format: "mpegts", Segment_duration: 4,
		Video_outputs: []VideoOutput{
			{Label: "video2500k", Codec: "h264", Framerate: 30, Width: 1280, Height: 720,
				Bitrate: "2.5M", Max_bitrate: "2.5M", Buf_size: "5M", Preset: "veryfast", Gop_size: 2},
			{Label: "video801k", Codec: "h264", Framerate: 30, Width: 640, Height: 360,
				Bitrate: "800500", Max_bitrate: "800500", Buf_size: "1601k", Preset: "veryfast", Gop_size: 2},
		},
		Audio_outputs: []AudioOutput{{Label: "audio128k", Codec: "aac", Bitrate: "128k"}},
	}}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", s, want)
	}
}

func TestDefaultsKeepGivenValues(t *testing.T) {
	t.Parallel()
	s := sampleSpec()
	Defaults(&s)
	if want := sampleSpec(); !reflect.DeepEqual(s, want) {
		t.Errorf("Defaults changed the complete sample:\n got %+v\nwant %+v", s, want)
	}
}

func TestDefaultsIdempotent(t *testing.T) {
	t.Parallel()
	s := Spec{Output: Output{Stream_type: "dash", Segment_duration: 6,
		Video_outputs: []VideoOutput{{Bitrate: "1M"}, {Bitrate: "1M"}, {}},
		Audio_outputs: []AudioOutput{{Bitrate: "96k"}}}}
	Defaults(&s)
	once := cloneSpec(s)
	Defaults(&s)
	if !reflect.DeepEqual(s, once) {
		t.Errorf("second Defaults changed\n%+v\ninto\n%+v", once, s)
	}
	if s.Output.Segment_format != "fmp4" {
		t.Errorf("dash segment format = %q, want fmp4", s.Output.Segment_format)
	}
}

func TestDefaultLabelsUnique(t *testing.T) {
	t.Parallel()
	s := Spec{Output: Output{
		Video_outputs: []VideoOutput{{Bitrate: "1M"}, {Label: "video1000k_2"}, {Bitrate: "1000k"}, {Bitrate: "x"}, {}},
		Audio_outputs: []AudioOutput{{Label: "AUDIO128K"}},
	}}
	Defaults(&s)
	var got []string
	for _, v := range s.Output.Video_outputs {
		got = append(got, v.Label)
	}
	got = append(got, s.Output.Audio_outputs[0].Label)
	want := []string{"video1000k", "video1000k_2", "video1000k_3", "video4", "video5", "AUDIO128K"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("labels = %q, want %q", got, want)
	}
}

// A rate that cannot be read is left alone and its dependants stay empty,
// so that Validate names the one real mistake.
func TestDefaultsSkipUnusableRates(t *testing.T) {
	t.Parallel()
	s := Spec{Output: Output{Video_outputs: []VideoOutput{{Bitrate: "fast"}, {Bitrate: "1M", Max_bitrate: "lots"}}}}
	Defaults(&s)
	v0, v1 := s.Output.Video_outputs[0], s.Output.Video_outputs[1]
	if v0.Max_bitrate != "" || v0.Buf_size != "" || v1.Buf_size != "" {
		t.Errorf("rates derived from unusable ones: %+v %+v", v0, v1)
	}
}

func TestDefaultGopSize(t *testing.T) {
	t.Parallel()
	tests := []struct{ segment, want float64 }{
		{4, 2}, {2, 2}, {6, 2}, {30, 2},
		{1, 1}, {3, 3}, {2.5, 2.5}, {9, 9},
		{15, 7.5}, {25, 5}, {12.5, 2.5}, {27, 9},
	}
	for _, tt := range tests {
		s := Spec{Output: Output{Segment_duration: tt.segment, Video_outputs: []VideoOutput{{}}}}
		Defaults(&s)
		if got := s.Output.Video_outputs[0].Gop_size; got != tt.want {
			t.Errorf("segment %g s: GOP %g, want %g", tt.segment, got, tt.want)
		}
	}
	// Every valid whole-second segment duration gets a GOP that Validate accepts.
	for d := MinSegmentDuration; d <= MaxSegmentDuration; d++ {
		g := defaultGopSize(d)
		if g < minGopSize || g > maxGopSize || !wholeMultiple(d, g) {
			t.Errorf("segment %g s: default GOP %g s is not valid", d, g)
		}
	}
}

func TestFormatBitrate(t *testing.T) {
	t.Parallel()
	for bps, want := range map[int64]string{0: "0", 999: "999", 1000: "1k", 365_000: "365k", 800_500: "800500",
		1_000_000: "1M", 2_500_000: "2500k", 5_000_000: "5M"} {
		if got := FormatBitrate(bps); got != want {
			t.Errorf("FormatBitrate(%d) = %q, want %q", bps, got, want)
		}
		if bps > 0 {
			if back, err := ParseBitrate(want); err != nil || back != bps {
				t.Errorf("ParseBitrate(FormatBitrate(%d)) = %d, %v", bps, back, err)
			}
		}
	}
}

func cloneSpec(s Spec) Spec {
	c := s
	c.Output.Video_outputs = slices.Clone(s.Output.Video_outputs)
	c.Output.Audio_outputs = slices.Clone(s.Output.Audio_outputs)
	return c
}
