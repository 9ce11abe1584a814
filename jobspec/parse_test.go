package jobspec

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func sampleBody(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/sample_live_job.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sampleSpec is the sample as Go values, written out independently of the
// parser.
func sampleSpec() Spec {
	rendition := func(label string, w, h int, rate, maxRate string) VideoOutput {
		return VideoOutput{Label: label, Codec: "h264", Framerate: 25, Width: w, Height: h,
			Bitrate: rate, Max_bitrate: maxRate, Buf_size: maxRate, Preset: "faster", Threads: 2, Gop_size: 2}
	}
	return Spec{Output: Output{
		Stream_type: "dash", Segment_format: "fmp4", Segment_duration: 4,
		Video_outputs: []VideoOutput{
			rendition("video365k", 640, 360, "365k", "500k"),
			rendition("video550k", 768, 432, "550k", "750k"),
		},
		Audio_outputs: []AudioOutput{{Label: "audio128k", Codec: "aac", Bitrate: "128k"}},
	}}
}

// sampleWith returns the sample body after edit changed its generic form,
// so a test can put any JSON anywhere.
func sampleWith(t testing.TB, edit func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(sampleBody(t), &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func outputOf(m map[string]any) map[string]any { return m["Output"].(map[string]any) }

func videoOf(m map[string]any, i int) map[string]any {
	return outputOf(m)["Video_outputs"].([]any)[i].(map[string]any)
}

func audioOf(m map[string]any, i int) map[string]any {
	return outputOf(m)["Audio_outputs"].([]any)[i].(map[string]any)
}

func TestParseSampleUnchanged(t *testing.T) {
	t.Parallel()
	body := sampleBody(t)
	s, warnings, err := Parse(body)
	if err != nil {
		t.Fatalf("Parse(sample): %v", err)
	}
	if len(warnings) != 0 {
		t.Errorf("sample warnings = %q, want none", warnings)
	}
	if want := sampleSpec(); !reflect.DeepEqual(s, want) {
		t.Errorf("Parse(sample) =\n%+v\nwant\n%+v", s, want)
	}

	// Round trip: the spec marshals back to the same keys and values.
	out, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var got, want any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip changed the sample:\n got %s\nwant %s", out, body)
	}
}

func TestParseLenient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		edit  func(m map[string]any)
		check func(s Spec) bool
	}{
		{"low latency 1", func(m map[string]any) { outputOf(m)["Low_latency_mode"], outputOf(m)["Segment_duration"] = 1, 2 },
			func(s Spec) bool { return bool(s.Output.Low_latency_mode) }},
		{"low latency 0", func(m map[string]any) { outputOf(m)["Low_latency_mode"] = 0 },
			func(s Spec) bool { return !bool(s.Output.Low_latency_mode) }},
		{"low latency true", func(m map[string]any) { outputOf(m)["Low_latency_mode"], outputOf(m)["Segment_duration"] = true, 2 },
			func(s Spec) bool { return bool(s.Output.Low_latency_mode) }},
		{"low latency quoted", func(m map[string]any) { outputOf(m)["Low_latency_mode"], outputOf(m)["Segment_duration"] = "1", 2 },
			func(s Spec) bool { return bool(s.Output.Low_latency_mode) }},
		{"low latency null", func(m map[string]any) { outputOf(m)["Low_latency_mode"] = nil },
			func(s Spec) bool { return !bool(s.Output.Low_latency_mode) }},
		{"decimal frame rate", func(m map[string]any) { videoOf(m, 0)["Framerate"] = 29.97 },
			func(s Spec) bool { return s.Output.Video_outputs[0].Framerate == 29.97 }},
		{"whole width written 640.0", func(m map[string]any) { videoOf(m, 0)["Width"] = json.Number("640.0") },
			func(s Spec) bool { return s.Output.Video_outputs[0].Width == 640 }},
		{"bitrate as a number", func(m map[string]any) { videoOf(m, 0)["Bitrate"] = 365000 },
			func(s Spec) bool { return s.Output.Video_outputs[0].Bitrate == "365000" }},
		{"bitrate 2.5M", func(m map[string]any) {
			videoOf(m, 1)["Bitrate"], videoOf(m, 1)["Max_bitrate"], videoOf(m, 1)["Buf_size"] = "2.5M", "3M", "6M"
		}, func(s Spec) bool { return s.Output.Video_outputs[1].Bitrate == "2.5M" }},
		{"extra fields of the original", func(m map[string]any) {
			m["Input"] = map[string]any{"Url": "rtmp://x/live", "Anything": []any{1, 2}}
			m["Api_test"] = 1
			o := outputOf(m)
			o["Fragment_duration"] = 1
			o["Time_shift_buffer_depth"] = 120
			o["S3_output"] = map[string]any{"Bucket": "ezlive-outputs"}
			o["Drm"] = map[string]any{"Disable_clear_key": 0, "Protection_system": "Widevine", "Protection_scheme": "cenc"}
			videoOf(m, 0)["Crf"] = 23
		}, func(s Spec) bool {
			o := s.Output
			return bool(s.Api_test) && string(s.Input) == `{"Anything":[1,2],"Url":"rtmp://x/live"}` &&
				o.Fragment_duration == 1 && o.Time_shift_buffer_depth == 120 && string(o.S3_output) == `{"Bucket":"ezlive-outputs"}` && S3Bucket(o) == "ezlive-outputs" &&
				o.Drm != nil && o.Drm.Protection_system == "Widevine" && !bool(o.Drm.Disable_clear_key) &&
				o.Video_outputs[0].Crf != nil && *o.Video_outputs[0].Crf == 23
		}},
		{"key in another case", func(m map[string]any) {
			o := outputOf(m)
			o["segment_duration"] = 6
			delete(o, "Segment_duration")
		}, func(s Spec) bool { return s.Output.Segment_duration == 6 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _, err := Parse(sampleWith(t, tt.edit))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !tt.check(s) {
				t.Errorf("Parse gave %+v", s)
			}
		})
	}
}

func TestParseWarnings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body []byte
		want []string
	}{
		{"unknown keys everywhere", sampleWith(t, func(m map[string]any) {
			m["Foo"] = 1
			outputOf(m)["Ladder"] = "x"
			videoOf(m, 0)["Foo"] = map[string]any{"deep": 1}
			audioOf(m, 0)["Channels"] = 2
			m["a key\nwith a line break"] = 1
			m[strings.Repeat("k", 41)] = 1
		}), []string{ // in document order; sampleWith writes keys sorted
			"unknown field Foo ignored",
			"unknown field Output.Audio_outputs[0].Channels ignored",
			"unknown field Output.Ladder ignored",
			"unknown field Output.Video_outputs[0].Foo ignored",
			`unknown field "a key\nwith a line break" ignored`,
			`unknown field "` + strings.Repeat("k", 40) + `…" ignored`,
		}},
		{"unknown key in Drm", sampleWith(t, func(m map[string]any) {
			outputOf(m)["Drm"] = map[string]any{"Key_rotation": 1}
		}), []string{
			"unknown field Output.Drm.Key_rotation ignored",
		}},
		{"fields not acted on", sampleWith(t, func(m map[string]any) {
			m["Input"] = "rtmp://example/live"
			o := outputOf(m)
			o["Fragment_duration"] = 1
			o["Low_latency_mode"], o["Segment_duration"] = 1, 2         // low latency takes at most 2 s
			o["S3_output"] = map[string]any{"Bucket": "ezlive-outputs"} // acted on: no warning
			videoOf(m, 1)["Crf"] = 23
		}), []string{
			"Input is accepted but not acted on yet: publish to the RtmpIngestUrl returned with the job",
			"Output.Fragment_duration is accepted but not acted on yet: each segment is written as one fragment",
			"Output.Video_outputs[1].Crf is accepted but not acted on yet: the rendition is encoded at its Bitrate, capped by Max_bitrate and Buf_size",
		}},
		{"S3_output without a bucket", sampleWith(t, func(m map[string]any) {
			outputOf(m)["S3_output"] = map[string]any{}
		}), []string{
			"Output.S3_output has no Bucket: the outputs are kept in the origin's own storage",
		}},
		{"low-latency HLS that cannot have parts", sampleWith(t, func(m map[string]any) {
			o := outputOf(m)
			o["Stream_type"], o["Segment_format"], o["Low_latency_mode"], o["Segment_duration"] = "hls", "mpegts", true, 2
		}), []string{
			`Output.Low_latency_mode: HLS players get standard HLS with short segments, not LL-HLS parts: Segment_format "mpegts" has no partial segments here (use "fmp4" or "cmaf")`,
		}},
		{"null extras are silent", sampleWith(t, func(m map[string]any) {
			m["Input"], outputOf(m)["Drm"], outputOf(m)["S3_output"], videoOf(m, 0)["Crf"] = nil, nil, nil, nil
		}), nil},
		{"Api_test is acted on by the API", sampleWith(t, func(m map[string]any) { m["Api_test"] = true }), nil},
		{"key in another case", sampleWith(t, func(m map[string]any) {
			v := videoOf(m, 0)
			v["preset"] = v["Preset"]
			delete(v, "Preset")
		}), []string{
			"field Output.Video_outputs[0].preset read as Output.Video_outputs[0].Preset: keys are case-sensitive in the original, please write Preset",
		}},
		{"repeated key", []byte(`{"Output": {"Segment_duration": 2, "Segment_duration": 4,
			"Audio_outputs": [{"Label": "a", "Codec": "aac", "Bitrate": "96k"}]}}`), []string{
			"field Output.Segment_duration appears more than once: the last value is used",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, warnings, err := Parse(tt.body)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !slices.Equal(warnings, tt.want) {
				t.Errorf("warnings:\n got %q\nwant %q", warnings, tt.want)
			}
		})
	}
}

func TestParseWarningsCapped(t *testing.T) {
	t.Parallel()
	body := sampleWith(t, func(m map[string]any) {
		for _, k := range strings.Fields("a b c d e f g h i j k l m n o p q r s t u v w x y z") {
			m[k] = 1
		}
		outputOf(m)["S3_output"] = map[string]any{}
	})
	_, warnings, err := Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != maxWarnings || warnings[maxWarnings-1] != "8 more warnings not listed" {
		t.Errorf("got %d warnings ending %q, want %d ending with the count of the rest", len(warnings), warnings[len(warnings)-1], maxWarnings)
	}
	if !strings.HasPrefix(warnings[0], "Output.S3_output has no Bucket") {
		t.Errorf("first warning %q, want the S3_output one before the unknown keys", warnings[0])
	}
}

// TestParseErrors checks that type errors name their field path, that they
// come together with the rule violations elsewhere, and that a field with a
// type error is not reported a second time by the rules.
func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body []byte
		want []FieldError // nil: an error without fields
		msg  string       // for errors without fields: a part of the message
	}{
		{"empty body", []byte(""), nil, "not valid JSON: unexpected end of JSON input"},
		{"syntax error with its place", []byte("{\n  \"Output\": {\n    \"Stream_type\": hls\n  }\n}"), nil,
			"not valid JSON: invalid character 'h' looking for beginning of value (line 3, column 20)"},
		{"trailing garbage", []byte(`{} {}`), nil, "not valid JSON"},
		{"array", []byte(` [{"Output": {}}]`), nil, "must be a JSON object"},
		{"string", []byte(`"x"`), nil, "must be a JSON object"},
		{"null", []byte(`null`), nil, "must be a JSON object"},
		{"width as a string", sampleWith(t, func(m map[string]any) { videoOf(m, 1)["Width"] = "768" }),
			[]FieldError{{"Output.Video_outputs[1].Width", `must be a whole number, got "768"`}}, ""},
		{"width with a fraction", sampleWith(t, func(m map[string]any) { videoOf(m, 1)["Width"] = 768.5 }),
			[]FieldError{{"Output.Video_outputs[1].Width", `must be a whole number, got 768.5`}}, ""},
		{"threads far too large", sampleWith(t, func(m map[string]any) { videoOf(m, 0)["Threads"] = json.Number("1e300") }),
			[]FieldError{{"Output.Video_outputs[0].Threads", `is far too large: 1e300`}}, ""},
		{"frame rate beyond float64", sampleWith(t, func(m map[string]any) { videoOf(m, 0)["Framerate"] = json.Number("1e400") }),
			[]FieldError{{"Output.Video_outputs[0].Framerate", `is far too large: 1e400`}}, ""},
		{"frame rate as a fraction string", sampleWith(t, func(m map[string]any) { videoOf(m, 0)["Framerate"] = "30000/1001" }),
			[]FieldError{{"Output.Video_outputs[0].Framerate", `must be a number such as 4 or 29.97, got "30000/1001"`}}, ""},
		{"flag not a flag", sampleWith(t, func(m map[string]any) { outputOf(m)["Low_latency_mode"] = "yes" }),
			[]FieldError{{"Output.Low_latency_mode", `must be true, false, 1 or 0, got "yes"`}}, ""},
		{"label as a number", sampleWith(t, func(m map[string]any) { audioOf(m, 0)["Label"] = 5 }),
			[]FieldError{{"Output.Audio_outputs[0].Label", `must be a string, got 5`}}, ""},
		{"bitrate as a bool", sampleWith(t, func(m map[string]any) { videoOf(m, 0)["Bitrate"] = true }),
			[]FieldError{{"Output.Video_outputs[0].Bitrate", `must be a bitrate such as "365k", "2.5M" or 800000, got true`}}, ""},
		{"outputs not a list", sampleWith(t, func(m map[string]any) { outputOf(m)["Video_outputs"] = map[string]any{} }),
			[]FieldError{{"Output.Video_outputs", `must be a list, got {}`}}, ""},
		{"rendition not an object", sampleWith(t, func(m map[string]any) { outputOf(m)["Video_outputs"].([]any)[0] = 5 }),
			[]FieldError{{"Output.Video_outputs[0]", `must be an object, got 5`}}, ""},
		{"output not an object", []byte(`{"Output": "dash"}`),
			[]FieldError{{"Output", `must be an object, got "dash"`}}, ""},
		{"Drm not an object", sampleWith(t, func(m map[string]any) { outputOf(m)["Drm"] = "clearkey" }),
			[]FieldError{{"Output.Drm", `must be an object, got "clearkey"`}}, ""},
		{"long values are cut", sampleWith(t, func(m map[string]any) { videoOf(m, 0)["Width"] = strings.Repeat("é", 30) }),
			[]FieldError{{"Output.Video_outputs[0].Width", `must be a whole number, got "` + strings.Repeat("é", 19) + "…"}}, ""},
		{"type errors and rule errors at once", sampleWith(t, func(m map[string]any) {
			outputOf(m)["Segment_format"] = "mpegts"
			videoOf(m, 0)["Height"] = "360"
			videoOf(m, 1)["Height"] = 433
			audioOf(m, 0)["Bitrate"] = "1M"
		}), []FieldError{
			{"Output.Video_outputs[0].Height", `must be a whole number, got "360"`},
			{"Output.Segment_format", `"mpegts" segments cannot be served as DASH: use "fmp4" or "cmaf", or Stream_type "hls"`},
			{"Output.Video_outputs[1].Height", "must be an even number of pixels (4:2:0 video), got 433"},
			{"Output.Audio_outputs[0].Bitrate", "must be between 32k and 512k, got 1M"},
		}, ""},
		{"a list far too long", []byte(`{"Output": {"Video_outputs": [{}` + strings.Repeat(`, {"Width": "x"}`, 100) + `]}}`),
			[]FieldError{{"Output.Video_outputs", "has 101 items, far more than a live job spec allows"}}, ""},
		{"no outputs at all", []byte(`{"Output": {"Stream_type": "hls"}}`),
			[]FieldError{{"Output.Video_outputs", "at least one video or audio output is required"}}, ""},
		{"empty object", []byte(`{}`),
			[]FieldError{{"Output.Video_outputs", "at least one video or audio output is required"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _, err := Parse(tt.body)
			var e *Error
			if !errors.As(err, &e) || e.Code != EINVALID {
				t.Fatalf("Parse err = %v, want an *Error with code %s", err, EINVALID)
			}
			if !reflect.DeepEqual(s, Spec{}) {
				t.Errorf("Parse returned a spec with its error: %+v", s)
			}
			if tt.want == nil {
				if len(e.Fields) != 0 || !strings.Contains(e.Message, tt.msg) {
					t.Errorf("error = %q with %d fields, want a message containing %q", e.Message, len(e.Fields), tt.msg)
				}
				return
			}
			if e.Message != "invalid live job spec" {
				t.Errorf("message = %q", e.Message)
			}
			if !slices.Equal(e.Fields, tt.want) {
				t.Errorf("fields:\n got %q\nwant %q", e.Fields, tt.want)
			}
		})
	}
}
