package ingest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/internal/testenv"
	"github.com/ezlivestreaming/ezlive/rtmp"
)

// refusingResolver refuses every key with err, and counts the keys it saw.
type refusingResolver struct{ err error }

func (r refusingResolver) Resolve(context.Context, string) (Target, error) { return Target{}, r.err }

func TestRelaysMediaInOrder(t *testing.T) {
	t.Parallel()
	tc := newFakeTranscoder(t)
	g, gw := startGateway(t, Config{Resolver: StaticResolver{"key-1": {JobID: "job-1", Addr: tc.addr(), App: "live", StreamName: "transcoder-key"}}})
	c := mustPublish(t, gw, "key-1?obs=1") // the query string is stripped

	meta, _ := rtmp.AppendAMF0(nil, "@setDataFrame", "onMetaData", rtmp.ECMAArray{{Key: "width", Value: 320.0}})
	big := bytes.Repeat([]byte{0x27}, 20000) // re-chunked on both hops
	sent := []*rtmp.Message{
		{Type: rtmp.TypeDataAMF0, Timestamp: 0, Payload: meta},
		{Type: rtmp.TypeVideo, Timestamp: 0, Payload: append([]byte{0x17, 0}, big...)},
		{Type: rtmp.TypeAudio, Timestamp: 21, Payload: []byte{0xAF, 1, 2, 3}},
		{Type: rtmp.TypeVideo, Timestamp: 40, Payload: []byte{0x27, 1, 9}},
		{Type: rtmp.TypeVideo, Timestamp: 0x1000000, Payload: []byte{0x27, 1, 10}}, // extended timestamp
	}
	for _, m := range sent {
		m.StreamID = c.StreamID
		if err := c.WriteMessage(m); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range sent {
		got := tc.nextMedia(t)
		if got.Type != want.Type || got.Timestamp != want.Timestamp || !bytes.Equal(got.Payload, want.Payload) {
			t.Fatalf("message %d: got type %d ts %d len %d, want type %d ts %d len %d",
				i, got.Type, got.Timestamp, len(got.Payload), want.Type, want.Timestamp, len(want.Payload))
		}
	}
	if names := tc.publishedNames(); !slices.Equal(names, []string{"transcoder-key"}) {
		t.Fatalf("transcoder saw publish %v, want the target's stream name", names)
	}
	st := g.Stats()
	if st.Accepted != 1 || st.ActivePublishers != 1 || st.BytesRelayed < uint64(len(big)) {
		t.Fatalf("stats %+v", st)
	}
}

// TestCommandSequences publishes with OBS's order (releaseStream, FCPublish
// before createStream) and with the bare minimum (connect, createStream,
// publish); both must relay.
func TestCommandSequences(t *testing.T) {
	t.Parallel()
	tc := newFakeTranscoder(t)
	_, gw := startGateway(t, Config{Resolver: StaticResolver{
		"obs":  {JobID: "j1", Addr: tc.addr(), App: "live", StreamName: "obs"},
		"bare": {JobID: "j2", Addr: tc.addr(), App: "live", StreamName: "bare"},
	}})
	mustPublish(t, gw, "obs") // DialPublish is OBS's order

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := rtmp.Dial(ctx, gw, rtmp.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.NetConn().SetDeadline(time.Now().Add(20 * time.Second))
	if err := c.Connect("live", "rtmp://"+gw+"/live"); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateStream(); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish("bare"); err != nil {
		t.Fatal(err)
	}
	c.WriteMessage(&rtmp.Message{Type: rtmp.TypeAudio, StreamID: c.StreamID, Payload: []byte{0xAF, 0}})
	if m := tc.nextMedia(t); m.Type != rtmp.TypeAudio {
		t.Fatalf("got type %d", m.Type)
	}
	names := tc.publishedNames()
	slices.Sort(names)
	if !slices.Equal(names, []string{"bare", "obs"}) {
		t.Fatalf("transcoder saw %v", names)
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		resolver Resolver
		app, key string
		code     string
		reason   string
	}{
		{"unknown key", StaticResolver{}, "live", "nope", rtmp.CodePublishBadName, ReasonUnknownKey},
		{"stopped job", refusingResolver{fmt.Errorf("job j1 is stopped: %w", ErrJobNotActive)}, "live", "k", rtmp.CodePublishBadName, ReasonNotActive},
		{"not placed", refusingResolver{fmt.Errorf("job j1: %w", ErrNotPlaced)}, "live", "k", rtmp.CodePublishBadName, ReasonNotPlaced},
		{"redis down", refusingResolver{errors.New("dial redis: refused")}, "live", "k", rtmp.CodePublishFailed, ReasonResolve},
		{"empty key", StaticResolver{}, "live", "?x=1", rtmp.CodePublishBadName, ReasonUnknownKey},
		{"wrong app", StaticResolver{}, "vod", "k", rtmp.CodeConnectRejected, ReasonBadApp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			transcoder := newConnCounter(t)
			r := tt.resolver
			if s, ok := r.(StaticResolver); ok && len(s) == 0 {
				r = StaticResolver{"right": {Addr: transcoder.addr(), App: "live", StreamName: "right"}}
			}
			g, gw := startGateway(t, Config{Resolver: r})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := rtmp.DialPublish(ctx, gw, tt.app, tt.key, 4096)
			if !errors.Is(err, rtmp.ErrRefused) || !strings.Contains(err.Error(), tt.code) {
				t.Fatalf("err = %v, want a refusal with %s", err, tt.code)
			}
			testenv.WaitFor(t, 30*time.Second, "the refusal to be counted", func() bool { return g.Stats().Refused[tt.reason] == 1 })
			if n := transcoder.conns.Load(); n != 0 {
				t.Fatalf("the transcoder got %d connections", n)
			}
		})
	}
}

// An encoder set up with its key in the wrong place (as the application)
// does not get the key printed in the gateway's log.
func TestBadAppLogMasksKey(t *testing.T) {
	t.Parallel()
	var logs testenv.Buffer
	g, gw := startGateway(t, Config{Resolver: StaticResolver{}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const key = "live/sk-9f8e7d6c5b4a"
	if _, err := rtmp.DialPublish(ctx, gw, key, "", 4096); !errors.Is(err, rtmp.ErrRefused) {
		t.Fatalf("err = %v, want a refusal", err)
	}
	testenv.WaitFor(t, 30*time.Second, "the refusal to be counted", func() bool { return g.Stats().Refused[ReasonBadApp] == 1 })
	if out := logs.String(); strings.Contains(out, "9f8e7d6c5b4a") || !strings.Contains(out, "live****") {
		t.Fatalf("bad_app log line does not mask the application:\n%s", out)
	}
}

func TestSecondPublisherRefused(t *testing.T) {
	t.Parallel()
	tc := newFakeTranscoder(t)
	g, gw := startGateway(t, Config{Resolver: StaticResolver{"k": {Addr: tc.addr(), App: "live", StreamName: "k"}}})
	first := mustPublish(t, gw, "k")
	_, err := publish(t, gw, "k")
	if !errors.Is(err, rtmp.ErrRefused) || !strings.Contains(err.Error(), "already publishing") {
		t.Fatalf("second publisher: %v, want already publishing", err)
	}
	// The first one still relays.
	first.WriteMessage(&rtmp.Message{Type: rtmp.TypeVideo, StreamID: first.StreamID, Payload: []byte{0x17, 1}})
	if m := tc.nextMedia(t); m.Type != rtmp.TypeVideo {
		t.Fatalf("got type %d", m.Type)
	}
	if tc.conns.Load() != 1 || g.Stats().Refused[ReasonBusy] != 1 {
		t.Fatalf("transcoder conns %d, stats %+v", tc.conns.Load(), g.Stats())
	}
	// After an unpublish the key is free again.
	first.Unpublish()
	<-tc.ended
	testenv.WaitFor(t, 30*time.Second, "the relay to end", func() bool { return g.Stats().ActivePublishers == 0 })
	mustPublish(t, gw, "k")
}

// TestCrashedPredecessorsLockIsTakenOver: a gateway killed with -9 leaves
// its publish locks behind for up to LockTTL, and the encoder reconnects at
// once to the restarted gateway. A lock held under this gateway's identity
// (host and listen address) by another life is taken over; one held by
// another gateway is not.
func TestCrashedPredecessorsLockIsTakenOver(t *testing.T) {
	t.Parallel()
	tc := newFakeTranscoder(t)
	locks := NewMemoryLocker()
	resolver := StaticResolver{
		"mine":   {Addr: tc.addr(), App: "live", StreamName: "mine"},
		"theirs": {Addr: tc.addr(), App: "live", StreamName: "theirs"},
	}
	g, gw := startGateway(t, Config{Resolver: resolver, Locker: locks})
	ctx := context.Background()
	var identity string
	testenv.WaitFor(t, 30*time.Second, "the gateway to serve", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		identity = g.identity
		return identity != ""
	})
	for key, holder := range map[string]string{"mine": identity + "1234-deadbeef/7", "theirs": "elsewhere|0.0.0.0:1935/99-cafe/3"} {
		if ok, _ := locks.TryAcquire(ctx, key, holder, time.Hour); !ok {
			t.Fatalf("seed lock %s", key)
		}
	}
	mustPublish(t, gw, "mine")
	if _, err := publish(t, gw, "theirs"); !errors.Is(err, rtmp.ErrRefused) || !strings.Contains(err.Error(), "already publishing") {
		t.Fatalf("a key another gateway holds: %v, want already publishing", err)
	}
}

// TestMalformedConnections sends garbage of several kinds; each connection
// is dropped, and a good publisher is relayed right after.
func TestMalformedConnections(t *testing.T) {
	t.Parallel()
	tc := newFakeTranscoder(t)
	g, gw := startGateway(t, Config{Resolver: StaticResolver{"k": {Addr: tc.addr(), App: "live", StreamName: "k"}}, MaxAttemptsPerMinute: 100, HandshakeTimeout: time.Second})
	setChunk := func(n uint32) []byte {
		return binary.BigEndian.AppendUint32([]byte{0x02, 0, 0, 0, 0, 0, 4, rtmp.TypeSetChunkSize, 0, 0, 0, 0}, n)
	}
	tests := []struct {
		name      string
		handshake bool // complete a valid handshake first
		send      []byte
		reason    string
	}{
		{"garbage", false, bytes.Repeat([]byte("garbage!"), 400), ReasonHandshake},
		{"http", false, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), ReasonHandshake},
		{"truncated handshake", false, append([]byte{3}, make([]byte, 700)...), ReasonHandshake},
		{"huge chunk size", true, setChunk(0x7FFFFFFF), ReasonProtocol},
		{"zero chunk size", true, setChunk(0), ReasonProtocol},
		{"chunk garbage", true, bytes.Repeat([]byte{0xC7, 0xFF}, 300), ReasonProtocol},
		{"media before publish", true, []byte{0x06, 0, 0, 0, 0, 0, 2, rtmp.TypeVideo, 1, 0, 0, 0, 0x17, 0}, ReasonProtocol},
		{"publish before connect", true, mustCommand(t, "publish", "k"), ReasonProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", gw)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if tt.handshake {
				if err := rtmp.ClientHandshake(nc); err != nil {
					t.Fatal(err)
				}
			}
			nc.Write(tt.send)
			if tt.name == "truncated handshake" {
				nc.(*net.TCPConn).CloseWrite()
			}
			readUntilClosed(t, nc)
			testenv.WaitFor(t, 30*time.Second, "the refusal to be counted", func() bool { return g.Stats().Refused[tt.reason] > 0 })
		})
	}
	if tc.conns.Load() != 0 {
		t.Fatalf("garbage reached the transcoder (%d connections)", tc.conns.Load())
	}
	c := mustPublish(t, gw, "k")
	c.WriteMessage(&rtmp.Message{Type: rtmp.TypeAudio, StreamID: c.StreamID, Payload: []byte{0xAF, 1}})
	if m := tc.nextMedia(t); m.Type != rtmp.TypeAudio {
		t.Fatalf("got type %d", m.Type)
	}
}

func mustCommand(t *testing.T, name string, args ...any) []byte {
	t.Helper()
	m, err := (&rtmp.Command{Name: name, TransactionID: 1, Args: args}).Message(0)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := rtmp.NewChunkWriter(&b).WriteMessage(3, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Only failed attempts count toward the per-IP limit: an encoder may
// reconnect as often as it needs, while an address that guesses keys is
// refused, and logged once a minute with a count rather than once a refusal.
func TestRateLimitCountsOnlyFailures(t *testing.T) {
	t.Parallel()
	tc := newFakeTranscoder(t)
	var logs testenv.Buffer
	g, gw := startGateway(t, Config{
		Resolver:             StaticResolver{"k": {Addr: tc.addr(), App: "live", StreamName: "k"}},
		MaxAttemptsPerMinute: 2, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	for i := range 5 {
		c, err := publish(t, gw, "k")
		if err != nil {
			t.Fatalf("reconnect %d of a real publisher: %v", i+1, err)
		}
		c.Unpublish()
		c.Close()
		<-tc.ended
		testenv.WaitFor(t, 30*time.Second, "the relay to end", func() bool { return g.Stats().ActivePublishers == 0 })
	}
	for range 2 {
		if _, err := publish(t, gw, "guess"); !errors.Is(err, rtmp.ErrRefused) {
			t.Fatalf("wrong key: %v, want a refusal", err)
		}
	}
	for i := range 10 {
		if _, err := publish(t, gw, "k"); err == nil || errors.Is(err, rtmp.ErrRefused) {
			t.Fatalf("attempt %d after two failures: %v, want the connection closed", i+1, err)
		}
	}
	if st := g.Stats(); st.Accepted != 5 || st.Refused[ReasonUnknownKey] != 2 || st.Refused[ReasonRateLimited] != 10 {
		t.Fatalf("stats %+v, want 5 accepted, 2 unknown keys, 10 rate limited", st)
	}
	if n := strings.Count(logs.String(), "reason="+ReasonRateLimited); n != 1 {
		t.Fatalf("%d log lines for 10 refusals from one address in a minute, want 1:\n%s", n, logs.String())
	}
}

func TestIdlePublisherClosed(t *testing.T) {
	t.Parallel()
	tc := newFakeTranscoder(t)
	g, gw := startGateway(t, Config{Resolver: StaticResolver{"k": {Addr: tc.addr(), App: "live", StreamName: "k"}}, IdleTimeout: 300 * time.Millisecond})
	c := mustPublish(t, gw, "k")
	if err := readUntilClosed(t, c.NetConn()); err != nil {
		t.Logf("closed with %v", err)
	}
	<-tc.ended // the transcoder side was closed too
	testenv.WaitFor(t, 30*time.Second, "the relay to end", func() bool { return g.Stats().ActivePublishers == 0 })
	mustPublish(t, gw, "k") // and the lock was released
}

func TestIdleBeforePublishClosed(t *testing.T) {
	t.Parallel()
	g, gw := startGateway(t, Config{Resolver: StaticResolver{}, HandshakeTimeout: time.Second})
	nc, err := net.Dial("tcp", gw)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := rtmp.ClientHandshake(nc); err != nil {
		t.Fatal(err)
	}
	readUntilClosed(t, nc) // says nothing after the handshake
	testenv.WaitFor(t, 30*time.Second, "the refusal to be counted", func() bool { return g.Stats().Refused[ReasonProtocol] == 1 })
}

func TestTranscoderUnreachable(t *testing.T) {
	t.Parallel()
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close()
	g, gw := startGateway(t, Config{Resolver: StaticResolver{"k": {Addr: dead, App: "live", StreamName: "k"}}})
	_, err := publish(t, gw, "k")
	if !errors.Is(err, rtmp.ErrRefused) || !strings.Contains(err.Error(), rtmp.CodePublishFailed) {
		t.Fatalf("err = %v", err)
	}
	testenv.WaitFor(t, 30*time.Second, "the refusal", func() bool { return g.Stats().Refused[ReasonUpstream] == 1 })
	// The lock was released: the next attempt fails the same way, not as busy.
	if _, err := publish(t, gw, "k"); err == nil || strings.Contains(err.Error(), "already publishing") {
		t.Fatalf("second attempt: %v", err)
	}
}

// TestGatewayClose: Close drops the publishers, closes the listener and
// ends Serve. (Dialing the old port afterwards proves nothing: on a busy
// machine another test may listen on it already.)
func TestGatewayClose(t *testing.T) {
	t.Parallel()
	tc := newFakeTranscoder(t)
	g, err := New(Config{Resolver: StaticResolver{"k": {Addr: tc.addr(), App: "live", StreamName: "k"}},
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- g.Serve(l) }()
	c := mustPublish(t, l.Addr().String(), "k")
	g.Close()
	readUntilClosed(t, c.NetConn())
	if err := <-served; err != nil {
		t.Fatalf("Serve after Close: %v", err)
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("the listener is still open after Close: %v", err)
	}
}

// switchableResolver lets a test revoke a key or move its job.
type switchableResolver struct {
	mu      sync.Mutex
	targets map[string]Target
}

func (r *switchableResolver) Resolve(_ context.Context, key string) (Target, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.targets[key]
	if !ok {
		return Target{}, ErrUnknownKey
	}
	return t, nil
}

func (r *switchableResolver) set(key string, t *Target) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t == nil {
		delete(r.targets, key)
	} else {
		r.targets[key] = *t
	}
}

// TestRelayEndsWhenKeyRevokedOrJobMoves: a rotated key stops an ongoing
// relay, and after a re-placement the encoder's reconnect reaches the new
// transcoder through the same URL.
func TestRelayEndsWhenKeyRevokedOrJobMoves(t *testing.T) {
	t.Parallel()
	oldTC, newTC := newFakeTranscoder(t), newFakeTranscoder(t)
	r := &switchableResolver{targets: map[string]Target{"k": {JobID: "j", Addr: oldTC.addr(), App: "live", StreamName: "k"}}}
	g, gw := startGateway(t, Config{Resolver: r, LockTTL: 300 * time.Millisecond})

	c := mustPublish(t, gw, "k")
	r.set("k", &Target{JobID: "j", Addr: newTC.addr(), App: "live", StreamName: "k"}) // re-placed
	readUntilClosed(t, c.NetConn())
	<-oldTC.ended
	c = mustPublish(t, gw, "k") // same URL, new transcoder
	c.WriteMessage(&rtmp.Message{Type: rtmp.TypeVideo, StreamID: c.StreamID, Payload: []byte{0x17, 1}})
	if m := newTC.nextMedia(t); m.Type != rtmp.TypeVideo {
		t.Fatalf("got type %d", m.Type)
	}

	r.set("k", nil) // rotated away
	readUntilClosed(t, c.NetConn())
	<-newTC.ended
	if _, err := publish(t, gw, "k"); !errors.Is(err, rtmp.ErrRefused) {
		t.Fatalf("old key after rotation: %v", err)
	}
	testenv.WaitFor(t, 30*time.Second, "relays to end", func() bool { return g.Stats().ActivePublishers == 0 })
}

// countingLocker counts lock renewals.
type countingLocker struct {
	PublishLocker
	renewals atomic.Int32
}

func (l *countingLocker) Renew(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	l.renewals.Add(1)
	return l.PublishLocker.Renew(ctx, key, owner, ttl)
}

// A rotated key ends the relay at the next re-check, long before the
// publish lock would next be renewed (a third of its lease).
func TestRevokedKeyEndsTheRelayBeforeTheLockRenews(t *testing.T) {
	t.Parallel()
	tc := newFakeTranscoder(t)
	r := &switchableResolver{targets: map[string]Target{"k": {JobID: "j", Addr: tc.addr(), App: "live", StreamName: "k"}}}
	locker := &countingLocker{PublishLocker: NewMemoryLocker()}
	_, gw := startGateway(t, Config{Resolver: r, Locker: locker, LockTTL: 10 * time.Minute, RecheckInterval: 50 * time.Millisecond})
	c := mustPublish(t, gw, "k")
	r.set("k", nil)
	readUntilClosed(t, c.NetConn())
	<-tc.ended
	if n := locker.renewals.Load(); n != 0 {
		t.Errorf("the lock was renewed %d times before the relay ended", n)
	}
}
