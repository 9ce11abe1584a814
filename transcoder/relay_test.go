package transcoder

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// originLog records what reaches the origin, in order.
type originLog struct {
	slow   time.Duration // each segment takes this long to store
	mu     sync.Mutex
	writes []string // "PUT name body" or "DELETE name"
	auth   []string
}

func (o *originLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	if strings.HasSuffix(r.URL.Path, ".ts") {
		time.Sleep(o.slow)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.writes = append(o.writes, strings.TrimSpace(r.Method+" "+strings.TrimPrefix(r.URL.Path, "/live/j/")+" "+string(b)))
	o.auth = append(o.auth, r.Header.Get("Authorization"))
}

func (o *originLog) get() ([]string, []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.writes), slices.Clone(o.auth)
}

func newRelayUnderTest(t *testing.T) (*relay, *originLog) {
	t.Helper()
	o := &originLog{}
	srv := httptest.NewServer(o)
	t.Cleanup(srv.Close)
	rl, err := startRelay(srv.URL+"/live/j/", "sekrit", slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return rl, o
}

// rawPut writes a PUT by hand so a test controls when its body arrives.
func rawPut(t *testing.T, c relayConn, name, body string) {
	t.Helper()
	if _, err := fmt.Fprintf(c, "PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", c.path(name), len(body), body); err != nil {
		t.Fatal(err)
	}
}

// relayConn is a connection to a relay, which knows the relay's secret.
type relayConn struct {
	net.Conn
	secret string
}

// path is where file name is written, under the relay's secret.
func (c relayConn) path(name string) string { return "/" + c.secret + "/" + name }

func dialRelay(t *testing.T, rl *relay) relayConn {
	t.Helper()
	c, err := net.Dial("tcp", rl.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return relayConn{Conn: c, secret: rl.secret}
}

// TestRelayOrder: writes reach the origin in the order ffmpeg finished
// them, even when the origin is slow and the next write comes at once.
func TestRelayOrder(t *testing.T) {
	t.Parallel()
	rl, o := newRelayUnderTest(t)
	o.slow = 200 * time.Millisecond
	want := []string{"PUT seg1.ts a", "PUT a.m3u8 seg1", "PUT seg2.ts b", "PUT a.m3u8 seg2", "DELETE seg1.ts"}
	for _, w := range want {
		f := strings.SplitN(w, " ", 3)
		c := dialRelay(t, rl)
		if f[0] == "DELETE" {
			fmt.Fprintf(c, "DELETE %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", c.path(f[1]))
		} else {
			rawPut(t, c, f[1], f[2])
		}
		_, _ = io.ReadAll(c) // ffmpeg's pattern: next write when this one is answered
	}
	rl.close(10 * time.Second)
	writes, auth := o.get()
	if !slices.Equal(writes, want) {
		t.Errorf("origin got %q, want %q", writes, want)
	}
	for _, a := range auth {
		if a != "Bearer sekrit" {
			t.Errorf("Authorization %q, want the upload token", a)
		}
	}
}

// TestRelayHoldsEndOfStream: a publisher leaving does not end the stream
// for players; a stop without publisher publishes the held ends.
func TestRelayHoldsEndOfStream(t *testing.T) {
	t.Parallel()
	rl, o := newRelayUnderTest(t)
	for name, body := range map[string]string{"low.m3u8": "#EXTM3U\nx.ts\n#EXT-X-ENDLIST\n", "master.mpd": `<MPD type="static">`} {
		c := dialRelay(t, rl)
		rawPut(t, c, name, body)
		_, _ = io.ReadAll(c)
	}
	rl.close(5 * time.Second)
	if w, _ := o.get(); w[0] != "PUT low.m3u8 #EXTM3U\nx.ts" {
		t.Errorf("origin got %q while the job goes on, want the playlist without ENDLIST", w)
	}
	rl.flushHeld()
	w, _ := o.get()
	slices.Sort(w[1:])
	want := []string{"PUT low.m3u8 #EXTM3U\nx.ts", `PUT low.m3u8 #EXTM3U` + "\nx.ts\n#EXT-X-ENDLIST", `PUT master.mpd <MPD type="static">`}
	if !slices.Equal(w, want) {
		t.Errorf("after the stop the origin got %q, want %q", w, want)
	}
}

// TestRelayDropsStaleVersion: of two versions of a manifest, the one ffmpeg
// wrote last wins even when the older body completes later at the relay.
func TestRelayDropsStaleVersion(t *testing.T) {
	t.Parallel()
	rl, o := newRelayUnderTest(t)
	older := dialRelay(t, rl)
	fmt.Fprintf(older, "PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n", older.path("master.mpd"))
	time.Sleep(50 * time.Millisecond) // accepted first
	newer := dialRelay(t, rl)
	rawPut(t, newer, "master.mpd", "new")
	_, _ = io.ReadAll(newer)
	fmt.Fprint(older, "old")
	older.Close()
	rl.close(5 * time.Second)
	if w, _ := o.get(); !slices.Equal(w, []string{"PUT master.mpd new"}) {
		t.Errorf("origin got %q, want only the newer version", w)
	}
}

// TestRelayNeedsItsSecret: the relay takes writes only under its per-run
// secret path: another local process cannot store a file with the job's
// upload token.
func TestRelayNeedsItsSecret(t *testing.T) {
	t.Parallel()
	rl, o := newRelayUnderTest(t)
	for _, path := range []string{"/evil.m4s", "/wrong/evil.m4s", "/" + rl.secret + "evil.m4s"} {
		c := dialRelay(t, rl)
		fmt.Fprintf(c, "PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close\r\n\r\nevil", path)
		if st, err := readStatus(c); err != nil || st != http.StatusForbidden {
			t.Errorf("PUT %s: %d, %v; want 403", path, st, err)
		}
	}
	rl.close(5 * time.Second)
	if w, _ := o.get(); len(w) != 0 {
		t.Errorf("the origin got %q", w)
	}
}
