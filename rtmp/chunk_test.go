package rtmp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"reflect"
	"testing"
)

func TestChunkRoundTrip(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte{0xAB}, 10000)
	msgs := []*Message{
		{Type: TypeVideo, StreamID: 1, Timestamp: 0, Payload: big},
		{Type: TypeAudio, StreamID: 1, Timestamp: 0, Payload: []byte{1, 2, 3}},
		{Type: TypeVideo, StreamID: 1, Timestamp: 40, Payload: big},        // type 2 header
		{Type: TypeVideo, StreamID: 1, Timestamp: 80, Payload: big[:300]},  // type 1 header
		{Type: TypeAudio, StreamID: 1, Timestamp: 23, Payload: []byte{4}},  // type 1
		{Type: TypeVideo, StreamID: 1, Timestamp: 20, Payload: big[:10]},   // backwards: type 0
		{Type: TypeVideo, StreamID: 1, Timestamp: 0x1000000, Payload: big}, // extended, delta > 0xFFFFFF
		{Type: TypeVideo, StreamID: 1, Timestamp: 0x1000028, Payload: big}, // small delta after extended
		{Type: TypeDataAMF0, StreamID: 1, Timestamp: 0xFFFFFFFF, Payload: []byte{}},
		{Type: TypeDataAMF0, StreamID: 2, Timestamp: 5, Payload: []byte("x")},
	}
	for _, size := range []uint32{1, 128, 4096, 1 << 20} {
		var buf bytes.Buffer
		w := NewChunkWriter(&buf)
		w.SetChunkSize(size)
		for _, m := range msgs {
			if err := w.WriteMessage(csidFor(m.Type), m); err != nil {
				t.Fatal(err)
			}
		}
		r := NewChunkReader(&buf, Limits{})
		if err := r.SetChunkSize(size); err != nil {
			t.Fatal(err)
		}
		for i, want := range msgs {
			got, err := r.ReadMessage()
			if err != nil {
				t.Fatalf("size %d message %d: %v", size, i, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("size %d message %d: got %+v, want %+v", size, i, *got, *want)
			}
		}
		if _, err := r.ReadMessage(); err != io.EOF {
			t.Fatalf("after the last message: %v, want EOF", err)
		}
	}
}

// TestChunkReaderHandBuilt reads chunks built by hand from the specification's
// examples (5.3.2.2): a message split across a type 0 and a type 3 chunk, and
// a type 3 header starting a new message with the previous delta.
func TestChunkReaderHandBuilt(t *testing.T) {
	t.Parallel()
	payload := bytes.Repeat([]byte{7}, 200)
	var b []byte
	b = append(b, 0x04, 0, 0, 10, 0, 0, 200, TypeVideo, 1, 0, 0, 0) // type 0, csid 4, ts 10
	b = append(b, payload[:128]...)
	b = append(b, 0xC4) // type 3 continuation
	b = append(b, payload[128:]...)
	b = append(b, 0x84, 0, 0, 5) // type 2: delta 5, same length
	b = append(b, payload[:128]...)
	b = append(b, 0xC4)
	b = append(b, payload[128:]...)
	b = append(b, 0xC4) // type 3 new message: ts += 5
	b = append(b, payload[:128]...)
	b = append(b, 0xC4)
	b = append(b, payload[128:]...)
	r := NewChunkReader(bytes.NewReader(b), Limits{})
	for _, ts := range []uint32{10, 15, 20} {
		m, err := r.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if m.Timestamp != ts || m.StreamID != 1 || !bytes.Equal(m.Payload, payload) {
			t.Fatalf("got ts %d stream %d len %d, want ts %d", m.Timestamp, m.StreamID, len(m.Payload), ts)
		}
	}
}

func TestChunkReaderLimits(t *testing.T) {
	t.Parallel()
	header := func(csid byte, length uint32) []byte {
		return []byte{csid, 0, 0, 0, byte(length >> 16), byte(length >> 8), byte(length), TypeVideo, 1, 0, 0, 0}
	}
	var manyStreams []byte
	for csid := byte(3); csid < 63; csid++ {
		manyStreams = append(manyStreams, header(csid, 1000)...)
		manyStreams = append(manyStreams, make([]byte, 128)...)
	}
	tests := map[string]struct {
		in     []byte
		limits Limits
	}{
		"message too large":          {header(4, 2<<20), Limits{MaxMessageSize: 1 << 20}},
		"first header not type 0":    {[]byte{0x44, 0, 0, 0, 0, 0, 1, TypeVideo}, Limits{}},
		"too many chunk streams":     {manyStreams, Limits{MaxChunkStreams: 8}},
		"too much unfinished":        {manyStreams, Limits{MaxBuffered: 4096}},
		"header inside message":      {append(append(header(4, 1000), make([]byte, 128)...), header(4, 10)...), Limits{}},
		"truncated header":           {[]byte{0x04, 0, 0}, Limits{}},
		"truncated extended":         {[]byte{0x04, 0xFF, 0xFF, 0xFF, 0, 0, 1, TypeVideo, 1, 0, 0, 0, 0}, Limits{}},
		"truncated payload":          {append(header(4, 100), 1, 2, 3), Limits{}},
		"truncated 3-byte basic hdr": {[]byte{0x01, 0x05}, Limits{}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			r := NewChunkReader(bytes.NewReader(tt.in), tt.limits)
			var err error
			for err == nil {
				_, err = r.ReadMessage()
			}
			if err == io.EOF {
				t.Fatalf("read to a clean EOF; want a protocol or truncation error")
			}
		})
	}
}

func TestSetChunkSizeBounds(t *testing.T) {
	t.Parallel()
	r := NewChunkReader(bytes.NewReader(nil), Limits{MaxChunkSize: 65536})
	for _, n := range []uint32{0, 65537, 0x7FFFFFFF} {
		if err := r.SetChunkSize(n); !errors.Is(err, ErrProtocol) {
			t.Errorf("SetChunkSize(%d) = %v, want ErrProtocol", n, err)
		}
	}
	if err := r.SetChunkSize(65536); err != nil {
		t.Fatal(err)
	}
}

func TestBasicHeaderSizes(t *testing.T) {
	t.Parallel()
	for _, csid := range []uint32{2, 63, 64, 319, 320, 65599} {
		var buf bytes.Buffer
		w := NewChunkWriter(&buf)
		m := &Message{Type: TypeAudio, StreamID: 1, Payload: []byte{byte(csid)}}
		if err := w.WriteMessage(csid, m); err != nil {
			t.Fatal(err)
		}
		got, err := NewChunkReader(&buf, Limits{}).ReadMessage()
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Fatalf("csid %d: %v %+v", csid, err, got)
		}
	}
}

// TestConnControl checks that Conn applies the peer's Set Chunk Size,
// answers pings and acknowledges by the window the peer asked for.
func TestConnControl(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	peer, conn := NewConn(a, Limits{}), NewConn(b, Limits{})
	go func() {
		peer.WriteWindowAckSize(1000)
		peer.SetChunkSize(5000)
		peer.WriteUserControl(EventPingRequest, 42)
		peer.WriteMessage(&Message{Type: TypeVideo, StreamID: 1, Payload: make([]byte, 4500)})
	}()
	got := make(chan []*Message, 1)
	go func() { // raw reader: Conn would consume the acknowledgement
		r := NewChunkReader(a, Limits{})
		var ms []*Message
		for range 2 {
			m, err := r.ReadMessage()
			if err != nil {
				break
			}
			ms = append(ms, m)
		}
		got <- ms
	}()
	for _, want := range []uint8{TypeUserControl, TypeVideo} {
		m, err := conn.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if m.Type != want {
			t.Fatalf("type %d, want %d", m.Type, want)
		}
	}
	ms := <-got
	if len(ms) != 2 {
		t.Fatalf("peer got %d messages, want a ping response and an acknowledgement", len(ms))
	}
	if ms[0].Type != TypeUserControl || binary.BigEndian.Uint16(ms[0].Payload) != EventPingResponse ||
		binary.BigEndian.Uint32(ms[0].Payload[2:]) != 42 {
		t.Fatalf("first reply %+v, want ping response 42", ms[0])
	}
	if ms[1].Type != TypeAcknowledgement || binary.BigEndian.Uint32(ms[1].Payload) < 4500 {
		t.Fatalf("second reply %+v, want an acknowledgement of >= 4500 bytes", ms[1])
	}
}
