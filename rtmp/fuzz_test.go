package rtmp

import (
	"bytes"
	"net"
	"testing"
)

// FuzzChunkReader feeds arbitrary bytes to the chunk reader and Conn's
// control handling: it must end with an error or EOF, never panic, and
// never hold more than its limits allow.
func FuzzChunkReader(f *testing.F) {
	var seed bytes.Buffer
	w := NewChunkWriter(&seed)
	connect := mustAMF0(f, "connect", 1.0, Object{{"app", "live"}})
	w.WriteMessage(csidCommand, &Message{Type: TypeCommandAMF0, Payload: connect})
	w.WriteMessage(csidControl, &Message{Type: TypeSetChunkSize, Payload: []byte{0, 0, 0x10, 0}})
	w.SetChunkSize(4096)
	w.WriteMessage(csidVideo, &Message{Type: TypeVideo, StreamID: 1, Timestamp: 0x1000000, Payload: make([]byte, 5000)})
	w.WriteMessage(csidVideo, &Message{Type: TypeVideo, StreamID: 1, Timestamp: 0x1000040, Payload: make([]byte, 5000)})
	f.Add(seed.Bytes())
	f.Add([]byte{0x02, 0, 0, 0, 0, 0, 4, TypeSetChunkSize, 0, 0, 0, 0, 0x7F, 0xFF, 0xFF, 0xFF})
	f.Add([]byte{0x03, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, TypeVideo, 1, 0, 0, 0})
	f.Add([]byte{0x01, 0xFF, 0xFF, 0, 0, 0, 0, 0, 1, TypeAudio, 0, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		limits := Limits{MaxMessageSize: 1 << 20, MaxChunkSize: 1 << 20, MaxChunkStreams: 8, MaxBuffered: 2 << 20}
		conn := NewConn(&replayConn{Reader: bytes.NewReader(b)}, limits)
		defer conn.Close()
		for range len(b) + 1 { // each message takes at least one byte
			m, err := conn.ReadMessage()
			if err != nil {
				break
			}
			if uint32(len(m.Payload)) > limits.MaxMessageSize {
				t.Fatalf("message of %d bytes passed a limit of %d", len(m.Payload), limits.MaxMessageSize)
			}
			if m.Type == TypeCommandAMF0 || m.Type == TypeCommandAMF3 {
				ParseCommand(m)
			}
		}
		if conn.r.buffered > limits.MaxBuffered {
			t.Fatalf("buffered %d bytes past a limit of %d", conn.r.buffered, limits.MaxBuffered)
		}
	})
}

// replayConn is a net.Conn that reads fixed bytes and discards writes, so
// the fuzzer runs without goroutines.
type replayConn struct {
	*bytes.Reader
	net.Conn // nil: only the methods below are used
}

func (c *replayConn) Read(p []byte) (int, error)  { return c.Reader.Read(p) }
func (c *replayConn) Write(p []byte) (int, error) { return len(p), nil }
func (c *replayConn) Close() error                { return nil }
