package rtmp

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestAMF0RoundTrip(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 70000)
	tests := []struct {
		name string
		in   any
		want any // nil: same as in
	}{
		{"number", 3.5, nil},
		{"int becomes number", 7, 7.0},
		{"uint32 becomes number", uint32(9), 9.0},
		{"true", true, nil},
		{"false", false, nil},
		{"string", "live", nil},
		{"empty string", "", nil},
		{"long string", long, nil},
		{"null", nil, nil},
		{"undefined", Undefined{}, nil},
		{"date", Date(1.7e12), nil},
		{"object", Object{{"app", "live"}, {"n", 1.0}, {"nested", Object{{"ok", true}}}}, nil},
		{"empty object", Object{}, nil},
		{"ecma array", ECMAArray{{"duration", 0.0}, {"encoder", "Lavf"}}, nil},
		{"strict array", []any{1.0, "a", nil, []any{}}, nil},
		{"map sorted", map[string]any{"b": 2.0, "a": 1.0}, Object{{"a", 1.0}, {"b", 2.0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := AppendAMF0(nil, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeAMF0(b)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want == nil {
				want = tt.in
			}
			if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
				t.Fatalf("got %#v, want %#v", got, want)
			}
		})
	}
}

// TestAMF0KnownBytes pins the encoding of a connect command against bytes
// written by hand from the AMF0 specification.
func TestAMF0KnownBytes(t *testing.T) {
	t.Parallel()
	b, err := AppendAMF0(nil, "connect", 1.0, Object{{"app", "live"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		0x02, 0x00, 0x07, 'c', 'o', 'n', 'n', 'e', 'c', 't',
		0x00, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0,
		0x03, 0x00, 0x03, 'a', 'p', 'p', 0x02, 0x00, 0x04, 'l', 'i', 'v', 'e', 0x00, 0x00, 0x09,
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("got % x\nwant % x", b, want)
	}
}

func TestAMF0DecodeErrors(t *testing.T) {
	t.Parallel()
	deep := bytes.Repeat([]byte{amf0StrictArray, 0, 0, 0, 1}, maxAMF0Depth+2)
	tests := map[string][]byte{
		"truncated number":        {amf0Number, 0, 0},
		"truncated string":        {amf0String, 0, 5, 'a'},
		"long string past end":    {amf0LongString, 0xFF, 0xFF, 0xFF, 0xFF},
		"strict array count lies": {amf0StrictArray, 0x7F, 0xFF, 0xFF, 0xFF, amf0Null},
		"object without end":      {amf0Object, 0, 1, 'a', amf0Null},
		"reference unsupported":   {amf0Reference, 0, 1},
		"amf3 switch unsupported": {0x11, 0x01},
		"stray object end":        {amf0ObjectEnd},
		"too deep":                deep,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeAMF0(in); !errors.Is(err, ErrAMF0) {
				t.Fatalf("err = %v, want ErrAMF0", err)
			}
		})
	}
}

func TestAMF0EncodeRejects(t *testing.T) {
	t.Parallel()
	if _, err := AppendAMF0(nil, struct{}{}); !errors.Is(err, ErrAMF0) {
		t.Fatalf("err = %v", err)
	}
	if _, err := AppendAMF0(nil, math.Inf(1)); err != nil {
		t.Fatalf("infinity is a valid double: %v", err)
	}
}

func FuzzAMF0Decode(f *testing.F) {
	for _, seed := range [][]byte{
		mustAMF0(f, "connect", 1.0, Object{{"app", "live"}, {"tcUrl", "rtmp://h/live"}}),
		mustAMF0(f, "@setDataFrame", "onMetaData", ECMAArray{{"width", 320.0}, {"stereo", true}}),
		mustAMF0(f, []any{1.0, nil, Undefined{}, Date(0)}),
		{amf0TypedObject, 0, 1, 'C', 0, 1, 'k', amf0Boolean, 1, 0, 0, amf0ObjectEnd},
		{amf0StrictArray, 0xFF, 0xFF, 0xFF, 0xFF},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		vals, err := DecodeAMF0(b)
		if err != nil {
			return
		}
		// Whatever decodes must encode again and decode to the same values.
		again, err := AppendAMF0(nil, vals...)
		if err != nil {
			t.Fatalf("re-encode %#v: %v", vals, err)
		}
		vals2, err := DecodeAMF0(again)
		if err != nil || len(vals2) != len(vals) {
			t.Fatalf("re-decode: %v (%d vs %d values)", err, len(vals2), len(vals))
		}
	})
}

func mustAMF0(tb testing.TB, vals ...any) []byte {
	b, err := AppendAMF0(nil, vals...)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
