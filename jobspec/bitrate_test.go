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
	for _, in := range []string{"", "k", "M", "0", "-1k", "fast", "1 M", "1G", "1e13", "Inf", "Infk", "365kb", "0x10"} {
		if got, err := ParseBitrate(in); err == nil {
			t.Errorf("ParseBitrate(%q) = %d, want an error", in, got)
		}
	}
}

// ParseBitrate("NaN") returns math.MinInt64 without an error today;
// Validate's range checks must still refuse it wherever a bitrate goes.
func TestValidateRefusesNaNBitrates(t *testing.T) {
	t.Parallel()
	s := sampleSpec()
	s.Output.Video_outputs[0].Buf_size = "NaN"
	s.Output.Video_outputs[1].Max_bitrate = "NaN"
	s.Output.Audio_outputs[0].Bitrate = "NaN"
	assertFieldErrors(t, Validate(s), []FieldError{
		{"Output.Video_outputs[0].Buf_size", "must be more than 0 bits, got NaN"},
		{"Output.Video_outputs[1].Max_bitrate", "must be between 10k and 100M, got NaN"},
		{"Output.Audio_outputs[0].Bitrate", "must be between 32k and 512k, got NaN"},
	})
	s = sampleSpec()
	s.Output.Video_outputs[0].Bitrate = "NaN"
	assertFieldErrors(t, Validate(s), []FieldError{{"Output.Video_outputs[0].Bitrate", "must be between 10k and 100M, got NaN"}})
}
