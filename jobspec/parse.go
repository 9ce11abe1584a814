package jobspec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxWarnings bounds the warnings kept for one spec: they are stored with the
// job, and a body full of unknown keys must not make the record huge.
const maxWarnings = 20

// maxListItems bounds the lists decoded item by item: far above any valid
// ladder, it only keeps a huge body from costing a decode per item.
const maxListItems = 100

// Parse reads the body of POST /jobs: it decodes the original project's JSON
// leniently, applies Defaults and then Validate.
//
// Lenient means what clients of the original send is accepted: flags as
// true/false or 1/0 (also quoted), frame rates whole or decimal, bitrates as
// strings ("365k") or plain numbers (800000), keys that differ from the
// original's spelling only in case, and the original's fields we do not act
// on yet. Each of those, every unknown key (with its path) and every repeated
// key comes back as a warning, never silence: first the fields not acted on,
// then the rest in the order of the body, at most 20 in all.
//
// Every problem is returned at once as an *Error with code EINVALID: a value
// of the wrong JSON type names its field path
// ("Output.Video_outputs[1].Width: must be a whole number, got \"640\""), and
// the rules of Validate are checked on the rest. A body that is not JSON, or
// not a JSON object, is EINVALID without fields. On error the Spec is zero;
// the warnings are returned either way.
func Parse(body []byte) (Spec, []string, error) {
	if err := checkObject(body); err != nil {
		return Spec{}, nil, err
	}
	d := &specDecoder{}
	var s Spec
	d.value("", body, reflect.ValueOf(&s).Elem())
	// Fields not acted on come first: they must never be cut off by a flood
	// of unknown keys.
	warnings := capSpecWarnings(append(unactedWarnings(s), d.warnings...), d.dropped)

	Defaults(&s)
	fields := d.errs
	for _, fe := range validate(s) {
		if !underFieldErrors(fe.Field, d.errs) {
			fields = append(fields, fe)
		}
	}
	if len(fields) > 0 {
		return Spec{}, warnings, invalidSpec(fields)
	}
	return s, warnings, nil
}

// checkObject rejects a body that is not one well-formed JSON object, saying
// where the syntax breaks.
func checkObject(body []byte) error {
	var raw json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line, col := syntaxPosition(body, se.Offset)
			return Errorf(EINVALID, "the body is not valid JSON: %s (line %d, column %d)", se, line, col)
		}
		return Errorf(EINVALID, "the body is not valid JSON: %s", err)
	}
	if raw[0] != '{' {
		return Errorf(EINVALID, `the body must be a JSON object, a live job spec such as {"Output": {...}}`)
	}
	return nil
}

// syntaxPosition turns a byte offset into a 1-based line and column.
func syntaxPosition(body []byte, offset int64) (line, col int) {
	if offset > int64(len(body)) {
		offset = int64(len(body))
	}
	before := body[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1)
	if col < 1 {
		col = 1
	}
	return line, col
}

// unactedWarnings names the fields a spec may carry that the media path does
// not act on yet, or not fully, so a user never believes they took effect.
func unactedWarnings(s Spec) []string {
	var w []string
	o := s.Output
	if rawHasValue(s.Input) {
		w = append(w, "Input is accepted but not acted on yet: publish to the RtmpIngestUrl returned with the job")
	}
	if o.Fragment_duration != 0 {
		w = append(w, "Output.Fragment_duration is accepted but not acted on yet: each segment is written as one fragment")
	}
	if rawHasValue(o.S3_output) && S3Bucket(o) == "" {
		w = append(w, "Output.S3_output has no Bucket: the outputs are kept in the origin's own storage")
	}
	if ll := LowLatencyHLSWarning(o); ll != "" {
		w = append(w, ll)
	}
	for i, v := range o.Video_outputs {
		if v.Crf != nil {
			w = append(w, fmt.Sprintf("Output.Video_outputs[%d].Crf is accepted but not acted on yet: the rendition is encoded at its Bitrate, capped by Max_bitrate and Buf_size", i))
		}
	}
	return w
}

func rawHasValue(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && string(t) != "null"
}

// capSpecWarnings keeps at most maxWarnings, the last one counting the
// rest (dropped were never written out).
func capSpecWarnings(w []string, dropped int) []string {
	if len(w)+dropped <= maxWarnings {
		return w
	}
	keep := min(len(w), maxWarnings-1)
	more := len(w) - keep + dropped
	return append(w[:keep:keep], fmt.Sprintf("%d more warnings not listed", more))
}

// underFieldErrors reports whether path is one of the decode errors' fields or lies
// inside one: a field that could not be decoded keeps its zero value, and
// the rules must not complain about that value a second time.
func underFieldErrors(path string, errs []FieldError) bool {
	for _, e := range errs {
		if path == e.Field || strings.HasPrefix(path, e.Field+".") || strings.HasPrefix(path, e.Field+"[") {
			return true
		}
	}
	return false
}

// specDecoder fills a Spec from JSON by walking the Go type beside the JSON
// value, so that every type error is reported with its exact path (with
// array indices, which encoding/json does not give) and every unknown key
// becomes a warning. Keys match the json tags as encoding/json does: exactly,
// or else ignoring case.
type specDecoder struct {
	warnings []string
	dropped  int // warnings past maxWarnings, only counted
	errs     []FieldError
}

var (
	specFlagType = reflect.TypeFor[Flag]()
	specRawType  = reflect.TypeFor[json.RawMessage]()
)

// bitrateKeys are string fields that also take a plain JSON number of
// bits per second, as ffmpeg would.
var bitrateKeys = map[string]bool{"Bitrate": true, "Max_bitrate": true, "Buf_size": true}

func (d *specDecoder) fail(path, format string, args ...any) {
	d.errs = append(d.errs, FieldError{Field: path, Message: fmt.Sprintf(format, args...)})
}

func (d *specDecoder) warn(format string, args ...any) {
	if len(d.warnings) >= maxWarnings {
		d.dropped++
		return
	}
	d.warnings = append(d.warnings, fmt.Sprintf(format, args...))
}

// value decodes raw (one well-formed JSON value) into v. null leaves v as
// it is, as encoding/json does.
func (d *specDecoder) value(path string, raw []byte, v reflect.Value) {
	raw = bytes.TrimSpace(raw)
	if string(raw) == "null" {
		return
	}
	switch {
	case v.Type() == specRawType:
		v.SetBytes(bytes.Clone(raw))
	case v.Type() == specFlagType:
		var f Flag
		if err := f.UnmarshalJSON(raw); err != nil {
			d.fail(path, "must be true, false, 1 or 0, got %s", shortJSON(raw))
			return
		}
		v.SetBool(bool(f))
	case v.Kind() == reflect.Pointer:
		elem, failed := reflect.New(v.Type().Elem()), len(d.errs)
		if d.value(path, raw, elem.Elem()); len(d.errs) == failed {
			v.Set(elem)
		}
	case v.Kind() == reflect.Struct:
		d.object(path, raw, v)
	case v.Kind() == reflect.Slice:
		d.list(path, raw, v)
	case v.Kind() == reflect.String:
		d.text(path, raw, v)
	case v.Kind() == reflect.Int:
		d.whole(path, raw, v)
	case v.Kind() == reflect.Float64:
		d.number(path, raw, v)
	default:
		// A kind the spec does not use today: let encoding/json decide.
		if err := json.Unmarshal(raw, v.Addr().Interface()); err != nil {
			d.fail(path, "has the wrong type: %s", shortJSON(raw))
		}
	}
}

func (d *specDecoder) object(path string, raw []byte, v reflect.Value) {
	members, ok := jsonObjectMembers(raw)
	if !ok {
		d.fail(path, "must be an object, got %s", shortJSON(raw))
		return
	}
	t := v.Type()
	seen := map[int]bool{}
	for _, m := range members {
		i, exact := fieldByKey(t, m.key)
		if i < 0 {
			d.warn("unknown field %s ignored", joinPath(path, displayKey(m.key)))
			continue
		}
		name := jsonName(t.Field(i))
		if !exact {
			d.warn("field %s read as %s: keys are case-sensitive in the original, please write %s", joinPath(path, displayKey(m.key)), joinPath(path, name), name)
		}
		if _, dup := seen[i]; dup {
			d.warn("field %s appears more than once: the last value is used", joinPath(path, name))
		}
		seen[i] = true
		d.value(joinPath(path, name), m.raw, v.Field(i))
	}
}

func (d *specDecoder) list(path string, raw []byte, v reflect.Value) {
	var items []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
		d.fail(path, "must be a list, got %s", shortJSON(raw))
		return
	}
	if len(items) > maxListItems {
		d.fail(path, "has %d items, far more than a live job spec allows", len(items))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(items), len(items))
	for i, item := range items {
		d.value(fmt.Sprintf("%s[%d]", path, i), item, s.Index(i))
	}
	v.Set(s)
}

func (d *specDecoder) text(path string, raw []byte, v reflect.Value) {
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			v.SetString(s)
			return
		}
	}
	if bitrateKeys[lastPathKey(path)] && isJSONNumber(raw) {
		v.SetString(string(raw))
		return
	}
	if bitrateKeys[lastPathKey(path)] {
		d.fail(path, "must be a bitrate such as \"365k\", \"2.5M\" or 800000, got %s", shortJSON(raw))
		return
	}
	d.fail(path, "must be a string, got %s", shortJSON(raw))
}

func (d *specDecoder) whole(path string, raw []byte, v reflect.Value) {
	f, err := strconv.ParseFloat(string(raw), 64)
	if !isJSONNumber(raw) || err != nil && !errors.Is(err, strconv.ErrRange) || f != math.Trunc(f) {
		d.fail(path, "must be a whole number, got %s", shortJSON(raw))
		return
	}
	if f > math.MaxInt32 || f < math.MinInt32 {
		d.fail(path, "is far too large: %s", shortJSON(raw))
		return
	}
	v.SetInt(int64(f))
}

func (d *specDecoder) number(path string, raw []byte, v reflect.Value) {
	f, err := strconv.ParseFloat(string(raw), 64)
	if !isJSONNumber(raw) || err != nil && !errors.Is(err, strconv.ErrRange) {
		d.fail(path, "must be a number such as 4 or 29.97, got %s", shortJSON(raw))
		return
	}
	if math.IsInf(f, 0) {
		d.fail(path, "is far too large: %s", shortJSON(raw))
		return
	}
	v.SetFloat(f)
}

// isJSONNumber reports whether raw is a JSON number (not a string, bool, …).
func isJSONNumber(raw []byte) bool {
	return len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9')
}

type jsonMember struct {
	key string
	raw json.RawMessage
}

// jsonObjectMembers lists an object's keys in document order with their raw
// values; ok is false when raw is not an object.
func jsonObjectMembers(raw []byte) (members []jsonMember, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		members = append(members, jsonMember{key, v})
	}
	return members, true
}

// fieldByKey finds the struct field a JSON key fills: the exact tag name, or
// else one equal ignoring case (as encoding/json does). It returns -1 when
// none matches.
func fieldByKey(t reflect.Type, key string) (index int, exact bool) {
	folded := -1
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Tag.Get("json") == "-" {
			continue
		}
		name := jsonName(f)
		if name == key {
			return i, true
		}
		if folded < 0 && strings.EqualFold(name, key) {
			folded = i
		}
	}
	return folded, false
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// displayKey writes a key the user sent for a message: as is when it looks
// like a field name, else quoted, and cut to a readable length.
func displayKey(key string) string {
	if labelPattern.MatchString(key) && len(key) <= 40 {
		return key
	}
	if r := []rune(key); len(r) > 40 {
		key = string(r[:40]) + "…"
	}
	return strconv.Quote(key)
}

func lastPathKey(path string) string {
	return path[strings.LastIndexByte(path, '.')+1:]
}

// shortJSON quotes a raw JSON value for a message, cut to a readable length.
func shortJSON(raw []byte) string {
	const max = 40
	if len(raw) <= max {
		return string(raw)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(raw[cut]) {
		cut--
	}
	return string(raw[:cut]) + "…"
}
