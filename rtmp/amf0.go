package rtmp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
)

// AMF0 type markers (AMF0 specification, section 2.1).
const (
	amf0Number      = 0x00
	amf0Boolean     = 0x01
	amf0String      = 0x02
	amf0Object      = 0x03
	amf0Null        = 0x05
	amf0Undefined   = 0x06
	amf0Reference   = 0x07
	amf0ECMAArray   = 0x08
	amf0ObjectEnd   = 0x09
	amf0StrictArray = 0x0A
	amf0Date        = 0x0B
	amf0LongString  = 0x0C
	amf0XMLDocument = 0x0F
	amf0TypedObject = 0x10
)

// maxAMF0Depth bounds nesting so a hostile payload cannot exhaust the stack.
const maxAMF0Depth = 32

// Property is one key/value pair of an AMF0 object or ECMA array.
type Property struct {
	Key   string
	Value any
}

// Object is an AMF0 anonymous object. It keeps the wire order of its
// properties, which some peers print and none should depend on.
type Object []Property

// ECMAArray is an AMF0 associative array (onMetaData uses one).
type ECMAArray []Property

// Undefined is the AMF0 undefined value.
type Undefined struct{}

// Date is an AMF0 date: milliseconds since the Unix epoch (the time zone field
// is reserved and ignored).
type Date float64

// Get returns the value of key, or nil when the object has no such key.
func (o Object) Get(key string) any { return get(o, key) }

// String returns the string value of key, or "" when it is absent or not a string.
func (o Object) String(key string) string {
	s, _ := o.Get(key).(string)
	return s
}

// Get returns the value of key, or nil when the array has no such key.
func (a ECMAArray) Get(key string) any { return get(a, key) }

func get(props []Property, key string) any {
	i := slices.IndexFunc(props, func(p Property) bool { return p.Key == key })
	if i < 0 {
		return nil
	}
	return props[i].Value
}

// ErrAMF0 is wrapped by every AMF0 decoding error.
var ErrAMF0 = errors.New("amf0")

// AppendAMF0 appends the AMF0 encoding of each value to b. Supported Go types:
// nil, bool, string, float64 and the integer types, Object, ECMAArray,
// map[string]any (keys sorted), []any, Undefined and Date.
func AppendAMF0(b []byte, values ...any) ([]byte, error) {
	for _, v := range values {
		var err error
		if b, err = appendValue(b, v, 0); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func appendValue(b []byte, v any, depth int) ([]byte, error) {
	if depth > maxAMF0Depth {
		return nil, fmt.Errorf("%w: nesting deeper than %d", ErrAMF0, maxAMF0Depth)
	}
	switch v := v.(type) {
	case nil:
		return append(b, amf0Null), nil
	case Undefined:
		return append(b, amf0Undefined), nil
	case bool:
		if v {
			return append(b, amf0Boolean, 1), nil
		}
		return append(b, amf0Boolean, 0), nil
	case float64:
		return appendNumber(b, v), nil
	case int:
		return appendNumber(b, float64(v)), nil
	case int64:
		return appendNumber(b, float64(v)), nil
	case uint32:
		return appendNumber(b, float64(v)), nil
	case Date:
		b = binary.BigEndian.AppendUint64(append(b, amf0Date), math.Float64bits(float64(v)))
		return append(b, 0, 0), nil
	case string:
		if len(v) > math.MaxUint16 {
			b = binary.BigEndian.AppendUint32(append(b, amf0LongString), uint32(len(v)))
			return append(b, v...), nil
		}
		return appendShortString(append(b, amf0String), v), nil
	case Object:
		return appendProperties(append(b, amf0Object), v, depth)
	case ECMAArray:
		b = binary.BigEndian.AppendUint32(append(b, amf0ECMAArray), uint32(len(v)))
		return appendProperties(b, v, depth)
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		o := make(Object, 0, len(v))
		for _, k := range keys {
			o = append(o, Property{k, v[k]})
		}
		return appendValue(b, o, depth)
	case []any:
		b = binary.BigEndian.AppendUint32(append(b, amf0StrictArray), uint32(len(v)))
		for _, e := range v {
			var err error
			if b, err = appendValue(b, e, depth+1); err != nil {
				return nil, err
			}
		}
		return b, nil
	default:
		return nil, fmt.Errorf("%w: cannot encode %T", ErrAMF0, v)
	}
}

func appendNumber(b []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(append(b, amf0Number), math.Float64bits(f))
}

func appendShortString(b []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint16(b, uint16(len(s))), s...)
}

func appendProperties(b []byte, props []Property, depth int) ([]byte, error) {
	for _, p := range props {
		if len(p.Key) > math.MaxUint16 {
			return nil, fmt.Errorf("%w: property name longer than 65535 bytes", ErrAMF0)
		}
		b = appendShortString(b, p.Key)
		var err error
		if b, err = appendValue(b, p.Value, depth+1); err != nil {
			return nil, err
		}
	}
	return append(b, 0, 0, amf0ObjectEnd), nil
}

// DecodeAMF0 decodes every AMF0 value in b. It never allocates more than a
// small multiple of len(b), whatever counts the payload claims.
func DecodeAMF0(b []byte) ([]any, error) {
	d := amf0Decoder{buf: b}
	var out []any
	for d.off < len(d.buf) {
		v, err := d.value(0)
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

type amf0Decoder struct {
	buf []byte
	off int
}

func (d *amf0Decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrAMF0, d.off, fmt.Sprintf(format, args...))
}

func (d *amf0Decoder) take(n int) ([]byte, error) {
	if n < 0 || len(d.buf)-d.off < n {
		return nil, d.errorf("truncated: need %d bytes", n)
	}
	p := d.buf[d.off : d.off+n]
	d.off += n
	return p, nil
}

func (d *amf0Decoder) u16() (int, error) {
	p, err := d.take(2)
	if err != nil {
		return 0, err
	}
	return int(binary.BigEndian.Uint16(p)), nil
}

func (d *amf0Decoder) u32() (uint32, error) {
	p, err := d.take(4)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(p), nil
}

func (d *amf0Decoder) str(n int) (string, error) {
	p, err := d.take(n)
	return string(p), err
}

func (d *amf0Decoder) value(depth int) (any, error) {
	if depth > maxAMF0Depth {
		return nil, d.errorf("nesting deeper than %d", maxAMF0Depth)
	}
	m, err := d.take(1)
	if err != nil {
		return nil, err
	}
	switch m[0] {
	case amf0Number:
		p, err := d.take(8)
		if err != nil {
			return nil, err
		}
		return math.Float64frombits(binary.BigEndian.Uint64(p)), nil
	case amf0Boolean:
		p, err := d.take(1)
		if err != nil {
			return nil, err
		}
		return p[0] != 0, nil
	case amf0String:
		n, err := d.u16()
		if err != nil {
			return nil, err
		}
		return d.str(n)
	case amf0LongString, amf0XMLDocument:
		n, err := d.u32()
		if err != nil {
			return nil, err
		}
		if int64(n) > int64(len(d.buf)-d.off) {
			return nil, d.errorf("long string of %d bytes past the end", n)
		}
		return d.str(int(n))
	case amf0Null:
		return nil, nil
	case amf0Undefined:
		return Undefined{}, nil
	case amf0Object:
		props, err := d.properties(depth)
		return Object(props), err
	case amf0TypedObject:
		n, err := d.u16()
		if err != nil {
			return nil, err
		}
		if _, err := d.take(n); err != nil { // class name: not needed here
			return nil, err
		}
		props, err := d.properties(depth)
		return Object(props), err
	case amf0ECMAArray:
		if _, err := d.u32(); err != nil { // the count is a hint; the end marker decides
			return nil, err
		}
		props, err := d.properties(depth)
		return ECMAArray(props), err
	case amf0StrictArray:
		return d.strictArray(depth)
	case amf0Date:
		p, err := d.take(10)
		if err != nil {
			return nil, err
		}
		return Date(math.Float64frombits(binary.BigEndian.Uint64(p))), nil
	default:
		return nil, d.errorf("unsupported type marker 0x%02x", m[0])
	}
}

func (d *amf0Decoder) properties(depth int) ([]Property, error) {
	props := []Property{}
	for {
		n, err := d.u16()
		if err != nil {
			return nil, err
		}
		if n == 0 && d.off < len(d.buf) && d.buf[d.off] == amf0ObjectEnd {
			d.off++
			return props, nil
		}
		key, err := d.str(n)
		if err != nil {
			return nil, err
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		props = append(props, Property{key, v})
	}
}

func (d *amf0Decoder) strictArray(depth int) ([]any, error) {
	n, err := d.u32()
	if err != nil {
		return nil, err
	}
	// Every element takes at least one byte, so a count beyond the remaining
	// bytes is a lie; refuse it before allocating.
	if int64(n) > int64(len(d.buf)-d.off) {
		return nil, d.errorf("strict array of %d elements past the end", n)
	}
	out := make([]any, 0, min(n, 64)) // grow as elements really arrive
	for range n {
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
