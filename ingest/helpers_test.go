package ingest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/rtmp"
)

// startGateway serves cfg on a free loopback port until the test ends.
func startGateway(t *testing.T, cfg Config) (*Gateway, string) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Serve(l) }()
	t.Cleanup(func() {
		g.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return g, l.Addr().String()
}

// connCounter is a plain TCP listener standing in for a transcoder: it
// records every connection and every byte, and answers nothing.
type connCounter struct {
	l     net.Listener
	conns atomic.Int32
	bytes atomic.Int64
}

func newConnCounter(t *testing.T) *connCounter {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &connCounter{l: l}
	go func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			c.conns.Add(1)
			go func() {
				n, _ := io.Copy(io.Discard, nc)
				c.bytes.Add(n)
			}()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return c
}

func (c *connCounter) addr() string { return c.l.Addr().String() }

// fakeTranscoder is an RTMP server written with package rtmp that behaves
// like ffmpeg's listener and records what it is sent.
type fakeTranscoder struct {
	l         net.Listener
	conns     atomic.Int32
	mu        sync.Mutex
	published []string
	media     chan *rtmp.Message
	ended     chan struct{} // one value per connection that ended
}

func newFakeTranscoder(t *testing.T) *fakeTranscoder {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeTranscoder{l: l, media: make(chan *rtmp.Message, 1000), ended: make(chan struct{}, 100)}
	go f.serve()
	t.Cleanup(func() { l.Close() })
	return f
}

func (f *fakeTranscoder) addr() string { return f.l.Addr().String() }

func (f *fakeTranscoder) serve() {
	for {
		nc, err := f.l.Accept()
		if err != nil {
			return
		}
		f.conns.Add(1)
		go func() {
			defer func() { f.ended <- struct{}{} }()
			defer nc.Close()
			if rtmp.ServerHandshake(nc) != nil {
				return
			}
			f.session(rtmp.NewConn(nc, rtmp.Limits{}))
		}()
	}
}

func (f *fakeTranscoder) session(c *rtmp.Conn) {
	for {
		m, err := c.ReadMessage()
		if err != nil {
			return
		}
		if m.IsMedia() {
			f.media <- m
			continue
		}
		cmd, err := rtmp.ParseCommand(m)
		if err != nil {
			continue
		}
		switch cmd.Name {
		case "connect":
			c.AcceptConnect(cmd, 128)
		case "createStream":
			c.Reply(0, cmd, 1.0)
		case "publish":
			name, _ := cmd.Arg(0).(string)
			f.mu.Lock()
			f.published = append(f.published, name)
			f.mu.Unlock()
			c.WriteStatus(m.StreamID, rtmp.Status{Level: "status", Code: rtmp.CodePublishStart, Description: "ok"})
		}
	}
}

func (f *fakeTranscoder) publishedNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.published...)
}

// nextMedia returns the next media message the transcoder received.
func (f *fakeTranscoder) nextMedia(t *testing.T) *rtmp.Message {
	t.Helper()
	select {
	case m := <-f.media:
		return m
	case <-time.After(20 * time.Second): // a hang guard, not a speed assertion
		t.Fatal("the transcoder received no media")
		return nil
	}
}

// publish dials the gateway and publishes key like OBS does.
func publish(t *testing.T, gw, key string) (*rtmp.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return rtmp.DialPublish(ctx, gw, "live", key, 4096)
}

// mustPublish is publish that fails the test on error and closes at cleanup.
func mustPublish(t *testing.T, gw, key string) *rtmp.Client {
	t.Helper()
	c, err := publish(t, gw, key)
	if err != nil {
		t.Fatalf("publish %s: %v", key, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readUntilClosed reads from c until the gateway closes it.
func readUntilClosed(t *testing.T, nc net.Conn) error {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err := io.Copy(io.Discard, nc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the gateway kept the connection open")
	}
	return err
}

// testWriter sends the gateway's log to the test's log (shown on failure or -v).
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
