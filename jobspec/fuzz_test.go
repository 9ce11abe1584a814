package jobspec

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, fails only with EINVALID, and
// that what it accepts is settled: it re-validates, Defaults leaves it
// alone, it marshals to JSON that parses back to the same spec without
// unknown fields, and it has a finite cost. Seeds: the sample, the lenient
// forms, and testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add(sampleBody(f))
	for _, seed := range []string{
		`{}`,
		`[]`,
		`{"Output": {"Audio_outputs": [{}]}}`,
		`{"Output": {"Stream_type": "hls", "Segment_format": "cmaf", "Low_latency_mode": "1",
			"Video_outputs": [{"Width": 1920, "Height": 1080, "Bitrate": 4500000, "Framerate": 29.97, "Codec": "h265"}]}}`,
		`{"Input": {"x": [1, {"y": null}]}, "Api_test": 1, "Output": {"Fragment_duration": 1, "Drm": {"Protection_scheme": "cenc"},
			"S3_output": null, "Video_outputs": [{"Width": "640", "Crf": 23}, 5]}}`,
		`{"Input_loss": {"Reconnect_window": 0.5, "Slate_url": "https://example.com/s.png", "x": 1}, "Output": {"Audio_outputs": [{}]}}`,
		`{"Input_loss": {"Repeat_last_frame": 0}, "Output": {"Audio_outputs": [{}]}}`,
		`{"output": {"segment_duration": 6, "Segment_duration": 2, "video_outputs": [{"width": 64, "height": 64, "bitrate": "10k"}]}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		s, warnings, err := Parse(body)
		if len(warnings) > maxWarnings {
			t.Fatalf("%d warnings, more than %d", len(warnings), maxWarnings)
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code != EINVALID || e.Message == "" {
				t.Fatalf("Parse error %#v is not an EINVALID *Error", err)
			}
			for _, fe := range e.Fields {
				if fe.Field == "" || fe.Message == "" {
					t.Fatalf("field error without a path or a sentence: %+v", fe)
				}
			}
			return
		}
		if err := Validate(s); err != nil {
			t.Fatalf("Parse accepted a spec that Validate refuses: %v", err)
		}
		again := cloneSpec(s)
		Defaults(&again)
		if !reflect.DeepEqual(again, s) {
			t.Fatalf("Defaults changed an accepted spec:\n%+v\n%+v", s, again)
		}
		out, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("marshal an accepted spec: %v", err)
		}
		s2, warnings2, err := Parse(out)
		if err != nil {
			t.Fatalf("an accepted spec does not parse back: %v\n%s", err, out)
		}
		for _, w := range warnings2 {
			if strings.HasPrefix(w, "unknown field") || strings.Contains(w, "more than once") || strings.Contains(w, "read as") {
				t.Fatalf("the marshalled spec draws warning %q", w)
			}
		}
		if out2, _ := json.Marshal(s2); !bytes.Equal(out, out2) {
			t.Fatalf("the spec changed on its way back:\n%s\n%s", out, out2)
		}
		if c := EstimateCost(s); !(c.CPU > 0) || math.IsInf(c.CPU, 0) || c.MemoryMB <= 0 {
			t.Fatalf("cost %+v of an accepted spec", c)
		}
		if Summary(s) == "" {
			t.Fatal("empty summary")
		}
	})
}
