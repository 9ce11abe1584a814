package jobspec

import (
	"strings"
	"testing"
)

// TestValidateDrm checks which packaging and DRM combinations are accepted
// and that a refusal names the field and what is supported.
func TestValidateDrm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		stream     string
		format     string
		drm        map[string]any
		h265       bool
		wantField  string // "" means valid
		wantText   string
		wantScheme string
	}{
		{"dash fmp4 default", "dash", "fmp4", map[string]any{}, false, "", "", "cenc"},
		{"dash cmaf cenc", "dash", "cmaf", map[string]any{"Protection_scheme": "cenc"}, false, "", "", "cenc"},
		{"hls fmp4 cbcs", "hls", "fmp4", map[string]any{"Protection_scheme": "CBCS"}, false, "", "", "cbcs"},
		{"hls cmaf default", "hls", "cmaf", map[string]any{}, false, "", "", "cbcs"},
		{"hls mpegts aes", "hls", "mpegts", map[string]any{"Protection_scheme": "aes-128"}, false, "", "", "aes-128"},
		{"hls mpegts h265 aes", "hls", "mpegts", map[string]any{}, true, "", "", "aes-128"},
		{"fairplay hls", "hls", "fmp4", map[string]any{"Protection_system": "FairPlay", "Disable_clear_key": 1}, false, "", "", "cbcs"},
		{"widevine dash", "dash", "fmp4", map[string]any{"Protection_system": "Widevine"}, false, "", "", "cenc"},
		{"cbcs on dash", "dash", "fmp4", map[string]any{"Protection_scheme": "cbcs"}, false,
			"Output.Drm.Protection_scheme", `use "cenc"`, ""},
		{"cenc on hls mpegts", "hls", "mpegts", map[string]any{"Protection_scheme": "cenc"}, false,
			"Output.Drm.Protection_scheme", `"aes-128" for hls mpegts`, ""},
		{"unknown scheme", "hls", "fmp4", map[string]any{"Protection_scheme": "cens"}, false,
			"Output.Drm.Protection_scheme", `use "cbcs"`, ""},
		{"fairplay dash", "dash", "fmp4", map[string]any{"Protection_system": "FairPlay"}, false,
			"Output.Drm.Protection_system", `"FairPlay" needs Stream_type "hls"`, ""},
		{"widevine mpegts", "hls", "mpegts", map[string]any{"Protection_system": "Widevine"}, false,
			"Output.Drm.Protection_system", "cannot protect hls mpegts", ""},
		{"unknown system", "dash", "fmp4", map[string]any{"Protection_system": "Marlin"}, false,
			"Output.Drm.Protection_system", `must be "ClearKey"`, ""},
		{"clear key disabled alone", "dash", "fmp4", map[string]any{"Disable_clear_key": true}, false,
			"Output.Drm.Disable_clear_key", "nothing could hand out the key", ""},
		{"h265 sample encryption", "dash", "fmp4", map[string]any{}, true,
			"Output.Video_outputs[0].Codec", `"h265" cannot be encrypted`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := sampleWith(t, func(m map[string]any) {
				o := outputOf(m)
				o["Stream_type"], o["Segment_format"], o["Drm"] = tt.stream, tt.format, tt.drm
				if tt.h265 {
					videoOf(m, 0)["Codec"] = "h265"
				}
			})
			spec, _, err := Parse(body)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if got := DrmScheme(spec.Output); got != tt.wantScheme {
					t.Errorf("DrmScheme = %q, want %q", got, tt.wantScheme)
				}
				return
			}
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("Parse error %v, want *Error naming %s", err, tt.wantField)
			}
			for _, f := range e.Fields {
				if f.Field == tt.wantField && strings.Contains(f.Message, tt.wantText) {
					return
				}
			}
			t.Errorf("fields %+v, want %s containing %q", e.Fields, tt.wantField, tt.wantText)
		})
	}
}
