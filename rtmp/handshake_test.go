package rtmp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"testing"
	"time"
)

func TestHandshake(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	errc := make(chan error, 1)
	go func() { errc <- ServerHandshake(a) }()
	if err := ClientHandshake(b); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestServerHandshakeRefuses(t *testing.T) {
	t.Parallel()
	tests := map[string][]byte{
		"rtmpe version":  append([]byte{6}, make([]byte, handshakeSize)...),
		"http request":   append([]byte("GET / HTTP/1.1\r\n\r\n"), make([]byte, handshakeSize)...),
		"truncated C1":   {3, 0, 0, 0},
		"nothing at all": {},
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			rw := &struct {
				io.Reader
				io.Writer
			}{bytes.NewReader(in), io.Discard}
			if err := ServerHandshake(rw); !errors.Is(err, ErrHandshake) {
				t.Fatalf("err = %v, want ErrHandshake", err)
			}
		})
	}
}

// TestPublishSequence runs the client's publish against a minimal server
// written with the same package, the way the gateway answers.
func TestPublishSequence(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan []string, 1)
	go func() {
		nc, err := l.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		ServerHandshake(nc)
		c := NewConn(nc, Limits{})
		var names []string
		for {
			m, err := c.ReadMessage()
			if err != nil {
				break
			}
			if m.IsMedia() {
				names = append(names, "media")
				break
			}
			cmd, err := ParseCommand(m)
			if err != nil {
				continue
			}
			names = append(names, cmd.Name)
			switch cmd.Name {
			case "connect":
				c.AcceptConnect(cmd, 4096)
			case "createStream":
				c.Reply(0, cmd, 7.0)
			case "publish":
				c.WriteStatus(m.StreamID, Status{"status", CodePublishStart, "ok"})
			}
		}
		got <- names
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := DialPublish(ctx, l.Addr().String(), "live", "key", 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if cl.StreamID != 7 {
		t.Fatalf("stream id %d, want 7", cl.StreamID)
	}
	cl.WriteMessage(&Message{Type: TypeVideo, StreamID: cl.StreamID, Payload: []byte{0x17, 0}})
	want := []string{"connect", "releaseStream", "FCPublish", "createStream", "publish", "media"}
	if names := <-got; !slices.Equal(names, want) {
		t.Fatalf("server saw %v, want %v", names, want)
	}
}
