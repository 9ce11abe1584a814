package jobspec

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestInputLossParse sends each Input_loss block inside the sample and
// checks what Parse makes of it: the settings in effect, the block as
// stored, and every field error and warning.
func TestInputLossParse(t *testing.T) {
	t.Parallel()
	const (
		window = "Input_loss.Reconnect_window"
		repeat = "Input_loss.Repeat_last_frame"
		slate  = "Input_loss.Slate_url"
	)
	badURL := func(got string) FieldError {
		return FieldError{slate, `must be an absolute http or https URL of an image, such as "https://example.com/slate.png", or empty for the built-in card; got ` + got}
	}
	defaults := InputLossSettings{ReconnectWindow: time.Minute, RepeatLastFrame: time.Second}
	longURL := "https://example.com/" + strings.Repeat("a", MaxSlateURLLength-len("https://example.com/"))
	tests := []struct {
		name     string
		block    string // the JSON of Input_loss; "" leaves it out
		want     InputLossSettings
		stored   string // the block in the parsed spec, as JSON ("null": absent)
		errs     []FieldError
		warnings []string
	}{
		{"absent", "", defaults, "null", nil, nil},
		{"null", `null`, defaults, "null", nil, nil},
		{"empty block", `{}`, defaults, `{"Reconnect_window":60,"Repeat_last_frame":1}`, nil, nil},
		{"every field", `{"Reconnect_window": 300, "Slate_url": "https://cdn.example.com/slate.png", "Repeat_last_frame": 2.5}`,
			InputLossSettings{5 * time.Minute, 2500 * time.Millisecond, "https://cdn.example.com/slate.png"},
			`{"Reconnect_window":300,"Slate_url":"https://cdn.example.com/slate.png","Repeat_last_frame":2.5}`, nil, nil},
		{"window 0: no slate, no repeat", `{"Reconnect_window": 0}`,
			InputLossSettings{}, `{"Reconnect_window":0,"Repeat_last_frame":0}`, nil, nil},
		{"window shorter than the default repeat", `{"Reconnect_window": 0.5}`,
			InputLossSettings{ReconnectWindow: 500 * time.Millisecond, RepeatLastFrame: 500 * time.Millisecond},
			`{"Reconnect_window":0.5,"Repeat_last_frame":0.5}`, nil, nil},
		{"repeat 0 given", `{"Repeat_last_frame": 0}`,
			InputLossSettings{ReconnectWindow: time.Minute}, `{"Reconnect_window":60,"Repeat_last_frame":0}`, nil, nil},
		{"longest window and repeat", `{"Reconnect_window": 1800, "Repeat_last_frame": 10}`,
			InputLossSettings{ReconnectWindow: 30 * time.Minute, RepeatLastFrame: 10 * time.Second},
			`{"Reconnect_window":1800,"Repeat_last_frame":10}`, nil, nil},
		{"repeat as long as the window", `{"Reconnect_window": 3, "Repeat_last_frame": 3}`,
			InputLossSettings{ReconnectWindow: 3 * time.Second, RepeatLastFrame: 3 * time.Second},
			`{"Reconnect_window":3,"Repeat_last_frame":3}`, nil, nil},
		{"http slate", `{"Slate_url": "http://10.0.0.5:8080/card.jpg?v=2"}`,
			InputLossSettings{time.Minute, time.Second, "http://10.0.0.5:8080/card.jpg?v=2"},
			`{"Reconnect_window":60,"Slate_url":"http://10.0.0.5:8080/card.jpg?v=2","Repeat_last_frame":1}`, nil, nil},
		{"slate of the longest length", `{"Slate_url": "` + longURL + `"}`,
			InputLossSettings{time.Minute, time.Second, longURL}, "", nil, nil},

		{"window too long", `{"Reconnect_window": 1801}`, InputLossSettings{}, "",
			[]FieldError{{window, "must be between 0 (no slate: the stream ends when the publisher leaves) and 1800 seconds, got 1801"}}, nil},
		{"negative window named once", `{"Reconnect_window": -1}`, InputLossSettings{}, "",
			[]FieldError{{window, "must be between 0 (no slate: the stream ends when the publisher leaves) and 1800 seconds, got -1"}}, nil},
		{"repeat too long", `{"Repeat_last_frame": 11}`, InputLossSettings{}, "",
			[]FieldError{{repeat, "must be between 0 and 10 seconds, got 11"}}, nil},
		{"negative repeat", `{"Repeat_last_frame": -0.5}`, InputLossSettings{}, "",
			[]FieldError{{repeat, "must be between 0 and 10 seconds, got -0.5"}}, nil},
		{"repeat longer than the window", `{"Reconnect_window": 3, "Repeat_last_frame": 5}`, InputLossSettings{}, "",
			[]FieldError{{repeat, "must not be longer than Reconnect_window (3 s), got 5 s"}}, nil},
		{"repeat given with no window", `{"Reconnect_window": 0, "Repeat_last_frame": 1}`, InputLossSettings{}, "",
			[]FieldError{{repeat, "must not be longer than Reconnect_window (0 s), got 1 s"}}, nil},
		{"bad window and bad repeat", `{"Reconnect_window": 4000, "Repeat_last_frame": 20}`, InputLossSettings{}, "",
			[]FieldError{
				{window, "must be between 0 (no slate: the stream ends when the publisher leaves) and 1800 seconds, got 4000"},
				{repeat, "must be between 0 and 10 seconds, got 20"},
			}, nil},
		{"slate over ftp", `{"Slate_url": "ftp://example.com/slate.png"}`, InputLossSettings{}, "",
			[]FieldError{badURL(`"ftp://example.com/slate.png"`)}, nil},
		{"relative slate", `{"Slate_url": "/img/slate.png"}`, InputLossSettings{}, "",
			[]FieldError{badURL(`"/img/slate.png"`)}, nil},
		{"slate without a host", `{"Slate_url": "https:///slate.png"}`, InputLossSettings{}, "",
			[]FieldError{badURL(`"https:///slate.png"`)}, nil},
		{"slate that is not a URL", `{"Slate_url": "https://exa mple.com/%zz"}`, InputLossSettings{}, "",
			[]FieldError{badURL(`"https://exa mple.com/%zz"`)}, nil},
		{"slate too long", `{"Slate_url": "` + longURL + `x"}`, InputLossSettings{}, "",
			[]FieldError{{slate, "must be at most 2048 characters, got 2049"}}, nil},
		{"window as a string", `{"Reconnect_window": "60"}`, InputLossSettings{}, "",
			[]FieldError{{window, `must be a number such as 4 or 29.97, got "60"`}}, nil},
		{"slate as a number", `{"Slate_url": 5}`, InputLossSettings{}, "",
			[]FieldError{{slate, `must be a string, got 5`}}, nil},
		{"block not an object", `120`, InputLossSettings{}, "",
			[]FieldError{{"Input_loss", `must be an object, got 120`}}, nil},

		{"unknown key", `{"Slate_text": "Back soon", "Reconnect_window": 30}`,
			InputLossSettings{ReconnectWindow: 30 * time.Second, RepeatLastFrame: time.Second}, "", nil,
			[]string{"unknown field Input_loss.Slate_text ignored"}},
		{"key in another case", `{"reconnect_window": 30}`,
			InputLossSettings{ReconnectWindow: 30 * time.Second, RepeatLastFrame: time.Second}, "", nil,
			[]string{"field Input_loss.reconnect_window read as Input_loss.Reconnect_window: keys are case-sensitive in the original, please write Reconnect_window"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := sampleWith(t, func(m map[string]any) {
				if tt.block != "" {
					m["Input_loss"] = json.RawMessage(tt.block)
				}
			})
			s, warnings, err := Parse(body)
			if !slices.Equal(warnings, tt.warnings) {
				t.Errorf("warnings %q, want %q", warnings, tt.warnings)
			}
			if tt.errs != nil {
				var e *Error
				if !errors.As(err, &e) || !slices.Equal(e.Fields, tt.errs) {
					t.Fatalf("Parse = %v, want fields %q", err, tt.errs)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := InputLossOf(s); got != tt.want {
				t.Errorf("InputLossOf = %+v, want %+v", got, tt.want)
			}
			if tt.stored == "" {
				return
			}
			if got, _ := json.Marshal(s.Input_loss); string(got) != tt.stored {
				t.Errorf("stored block %s, want %s", got, tt.stored)
			}
		})
	}
}

// InputLossOf gives the settings in effect without Defaults having run, and
// leaves the spec as it was.
func TestInputLossOfWithoutDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		block *InputLoss
		want  InputLossSettings
	}{
		{"no block", nil, InputLossSettings{ReconnectWindow: time.Minute, RepeatLastFrame: time.Second}},
		{"empty block", &InputLoss{}, InputLossSettings{ReconnectWindow: time.Minute, RepeatLastFrame: time.Second}},
		{"window 0", &InputLoss{Reconnect_window: new(0.0)}, InputLossSettings{}},
		{"short window", &InputLoss{Reconnect_window: new(0.25)},
			InputLossSettings{ReconnectWindow: 250 * time.Millisecond, RepeatLastFrame: 250 * time.Millisecond}},
		{"repeat and slate", &InputLoss{Repeat_last_frame: new(4.0), Slate_url: "https://example.com/s.png"},
			InputLossSettings{time.Minute, 4 * time.Second, "https://example.com/s.png"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := sampleSpec()
			s.Input_loss = tt.block
			var before []byte
			if tt.block != nil {
				before, _ = json.Marshal(tt.block)
			}
			if got := InputLossOf(s); got != tt.want {
				t.Errorf("InputLossOf = %+v, want %+v", got, tt.want)
			}
			if tt.block != nil {
				if after, _ := json.Marshal(tt.block); string(after) != string(before) {
					t.Errorf("InputLossOf changed the block from %s to %s", before, after)
				}
			}
		})
	}
}

// The sample, which has no Input_loss, keeps none and runs with the defaults.
func TestInputLossSampleDefaults(t *testing.T) {
	t.Parallel()
	s, _, err := Parse(sampleBody(t))
	if err != nil {
		t.Fatal(err)
	}
	if s.Input_loss != nil {
		t.Errorf("the sample gained an Input_loss block: %+v", *s.Input_loss)
	}
	want := InputLossSettings{ReconnectWindow: DefaultReconnectWindow * time.Second, RepeatLastFrame: DefaultRepeatLastFrame * time.Second}
	if got := InputLossOf(s); got != want {
		t.Errorf("InputLossOf(sample) = %+v, want %+v", got, want)
	}
}
