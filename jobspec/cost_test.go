package jobspec

import (
	"math"
	"testing"
)

func TestEstimateCost(t *testing.T) {
	t.Parallel()
	withPreset := func(p string) func(*Spec) {
		return func(s *Spec) {
			for i := range s.Output.Video_outputs {
				s.Output.Video_outputs[i].Preset = p
			}
		}
	}
	tests := []struct {
		name    string
		edit    func(*Spec)
		cpu     float64 // cores, ±0.005
		memory  int     // MiB
		comment string
	}{
		{"sample at faster", func(*Spec) {}, 0.28, 219, "measured 0.28"},
		{"sample at veryfast", withPreset("veryfast"), 0.20, 211, "measured 0.20"},
		{"sample in h265 at veryfast", func(s *Spec) {
			withPreset("veryfast")(s)
			for i := range s.Output.Video_outputs {
				s.Output.Video_outputs[i].Codec = "h265"
			}
		}, 0.0507 + 4*0.1493, 238, "4× the encode part"},
		{"sample at ultrafast", withPreset("ultrafast"), 0.0507 + 0.5*0.1493, 203, ""},
		{"unknown preset costs as the default", withPreset("turbo"), 0.20, 211, ""},
		{"audio only", func(s *Spec) { s.Output.Video_outputs = nil }, 0.03, 158, "process + AAC"},
		{"HLS mpegts encodes the audio per variant", func(s *Spec) { s.Output.Stream_type, s.Output.Segment_format = "hls", "mpegts" },
			0.29, 227, "one more AAC encoder"},
		{"HLS fmp4 shares one audio", func(s *Spec) { s.Output.Stream_type = "hls" }, 0.28, 219, ""},
		{"nonsense sizes cost nothing and do not panic", func(s *Spec) {
			s.Output.Audio_outputs = nil
			s.Output.Video_outputs = []VideoOutput{{Width: -5, Height: 1 << 30, Framerate: math.Inf(1)}, {Width: 10, Height: 10, Framerate: math.NaN()}}
		}, 0.02, 183, "memory counts little more than 16 MiB per rendition"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := sampleSpec()
			tt.edit(&s)
			c := EstimateCost(s)
			if math.Abs(c.CPU-tt.cpu) > 0.005 {
				t.Errorf("CPU = %.4f cores, want %.4f (%s)", c.CPU, tt.cpu, tt.comment)
			}
			if c.MemoryMB != tt.memory {
				t.Errorf("memory = %d MiB, want %d", c.MemoryMB, tt.memory)
			}
		})
	}
}

// Costs grow with every dimension the encoder works harder on.
func TestEstimateCostMonotonic(t *testing.T) {
	t.Parallel()
	one := func(edit func(v *VideoOutput)) Cost {
		v := VideoOutput{Codec: "h264", Width: 1280, Height: 720, Framerate: 30, Preset: "veryfast"}
		edit(&v)
		return EstimateCost(Spec{Output: Output{Video_outputs: []VideoOutput{v}}})
	}
	base := one(func(*VideoOutput) {})
	for name, edit := range map[string]func(v *VideoOutput){
		"1080p":  func(v *VideoOutput) { v.Width, v.Height = 1920, 1080 },
		"60 fps": func(v *VideoOutput) { v.Framerate = 60 },
		"h265":   func(v *VideoOutput) { v.Codec = "h265" },
		"medium": func(v *VideoOutput) { v.Preset = "medium" },
	} {
		if c := one(edit); c.CPU <= base.CPU || c.MemoryMB < base.MemoryMB {
			t.Errorf("%s costs %+v, not more than 720p30 veryfast %+v", name, c, base)
		}
	}
	prev := 0.0
	for _, p := range Presets {
		c := one(func(v *VideoOutput) { v.Preset = p })
		if c.CPU <= prev {
			t.Errorf("preset %s costs %.3f, not more than the faster preset before it (%.3f)", p, c.CPU, prev)
		}
		prev = c.CPU
	}
}

func TestSummary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*Spec)
		want string
	}{
		{"sample", func(*Spec) {},
			"dash/fmp4 4s: video365k 640x360@25 365k, video550k 768x432@25 550k; audio128k aac 128k"},
		{"audio only", func(s *Spec) { s.Output.Video_outputs = nil },
			"dash/fmp4 4s: audio128k aac 128k"},
		{"video only, h265, decimal frame rate", func(s *Spec) {
			s.Output.Stream_type, s.Output.Segment_format, s.Output.Segment_duration = "hls", "cmaf", 2.5
			s.Output.Audio_outputs = nil
			s.Output.Video_outputs = s.Output.Video_outputs[:1]
			s.Output.Video_outputs[0].Codec, s.Output.Video_outputs[0].Framerate = "h265", 29.97
		}, "hls/cmaf 2.5s: video365k h265 640x360@29.97 365k"},
	}
	for _, tt := range tests {
		s := sampleSpec()
		tt.edit(&s)
		if got := Summary(s); got != tt.want {
			t.Errorf("%s: Summary =\n %q\nwant\n %q", tt.name, got, tt.want)
		}
	}
}
