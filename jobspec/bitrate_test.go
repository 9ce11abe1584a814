package jobspec

import "testing"

func TestParseBitrate(t *testing.T) {
	t.Parallel()
	good := map[string]int64{
		"365k": 365_000, "365K": 365_000, "2.5M": 2_500_000, "2.5m": 2_500_000,
		"800000": 800_000, " 128k ": 128_000, "1e6": 1_000_000, "0.5k": 500,
	}
	for in, want := range good {
		if got, err := ParseBitrate(in); err != nil || got != want {
			t.Errorf("ParseBitrate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "k", "M", "0", "-1k", "fast", "1 M", "1G", "1e13", "Inf", "Infk", "365kb", "0x10", "NaN", "nank"} {
		if got, err := ParseBitrate(in); err == nil {
			t.Errorf("ParseBitrate(%q) = %d, want an error", in, got)
		}
	}
}

// A NaN bitrate is refused where it is written, naming each field.
func TestValidateRefusesNaNBitrates(t *testing.T) {
	t.Parallel()
	const msg = "bitrate \"NaN\" is not a positive number such as 365k, 2.5M or 800000"
	s := sampleSpec()
	s.Output.Video_outputs[0].Buf_size = "NaN"
	s.Output.Video_outputs[1].Max_bitrate = "NaN"
	s.Output.Audio_outputs[0].Bitrate = "NaN"
	assertFieldErrors(t, Validate(s), []FieldError{
		{"Output.Video_outputs[0].Buf_size", msg},
		{"Output.Video_outputs[1].Max_bitrate", msg},
		{"Output.Audio_outputs[0].Bitrate", msg},
	})
}
