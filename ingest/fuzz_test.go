package ingest

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/ezlivestreaming/ezlive/rtmp"
)

// FuzzNegotiate feeds arbitrary bytes, after the handshake, to the gateway's
// command handling: it must refuse or ask for a key, never panic, never dial.
func FuzzNegotiate(f *testing.F) {
	var seed bytes.Buffer
	w := rtmp.NewChunkWriter(&seed)
	for i, cmd := range []*rtmp.Command{
		{Name: "connect", Object: rtmp.Object{{Key: "app", Value: "live"}, {Key: "tcUrl", Value: "rtmp://h/live"}}},
		{Name: "releaseStream", Args: []any{"key"}},
		{Name: "FCPublish", Args: []any{"key"}},
		{Name: "createStream"},
		{Name: "publish", Args: []any{"key?x=1", "live"}},
	} {
		cmd.TransactionID = float64(i + 1)
		m, _ := cmd.Message(0)
		w.WriteMessage(3, m)
	}
	f.Add(seed.Bytes())
	f.Add(mustCommandF(f, "publish", "key"))
	f.Add([]byte{0x03, 0, 0, 0, 0, 0, 5, rtmp.TypeCommandAMF0, 0, 0, 0, 0, 0x02, 0, 0x07, 'c', 'o'})
	g, err := New(Config{Resolver: StaticResolver{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c := rtmp.NewConn(&replayConn{Reader: bytes.NewReader(b)}, rtmp.Limits{MaxMessageSize: 1 << 20, MaxBuffered: 2 << 20})
		req, err := g.negotiate(c)
		if err == nil && req.key == "" {
			t.Fatal("negotiation ended without an error and without a key")
		}
	})
}

func mustCommandF(f *testing.F, name string, args ...any) []byte {
	m, err := (&rtmp.Command{Name: name, TransactionID: 1, Args: args}).Message(0)
	if err != nil {
		f.Fatal(err)
	}
	var b bytes.Buffer
	rtmp.NewChunkWriter(&b).WriteMessage(3, m)
	return b.Bytes()
}

// replayConn is a net.Conn that reads fixed bytes and discards writes.
type replayConn struct {
	*bytes.Reader
	net.Conn // nil: only the methods below are used
}

func (c *replayConn) Read(p []byte) (int, error)  { return c.Reader.Read(p) }
func (c *replayConn) Write(p []byte) (int, error) { return len(p), nil }
func (c *replayConn) Close() error                { return nil }
