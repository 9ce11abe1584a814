package origin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// mediaPlaylist is an LL-HLS media playlist: complete segments from msn
// on, parts of the segment after them, and a preload hint for the next part.
func mediaPlaylist(target int, msn int64, segments, parts int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:%d\n#EXT-X-PART-INF:PART-TARGET=0.54\n"+
		"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.62,HOLD-BACK=3\n"+
		"#EXT-X-MEDIA-SEQUENCE:%d\n#EXT-X-MAP:URI=\"init.mp4\"\n", target, msn)
	for i := range segments + 1 {
		uri := fmt.Sprintf("chunk-%05d.m4s", msn+int64(i))
		n := 2
		if i == segments {
			n = parts
		}
		var off int
		for range n {
			fmt.Fprintf(&b, "#EXT-X-PART:DURATION=0.5,URI=%q,BYTERANGE=\"1000@%d\"\n", uri, off)
			off += 1000
		}
		if i == segments {
			fmt.Fprintf(&b, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=%q,BYTERANGE-START=%d\n", uri, off)
			break
		}
		fmt.Fprintf(&b, "#EXTINF:1.00000,\n%s\n", uri)
	}
	return b.Bytes()
}

// blocked is how many readers wait for a change of name.
func (f *fixture) blocked(name string) int {
	c := &f.srv.changes
	c.mu.Lock()
	defer c.mu.Unlock()
	if ws := c.byName[name]; ws != nil {
		return ws.n
	}
	return 0
}

// waitBlocked returns once n readers wait for a change of name. The bound
// only turns a hang into a failure.
func (f *fixture) waitBlocked(name string, n int, within time.Duration) {
	f.t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if f.blocked(name) == n {
			return
		}
	}
	f.t.Fatalf("%d readers wait for %s, want %d", f.blocked(name), name, n)
}

// noWaiters fails when a change subscription outlives its reader. A
// handler drops its subscription just after it has written its answer, so
// a client can read the answer first: wait a little for the handlers to
// finish (the bound only turns a leak into a failure).
func (f *fixture) noWaiters() {
	f.t.Helper()
	c := &f.srv.changes
	count := func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.byName)
	}
	for deadline := time.Now().Add(5 * time.Second); count() != 0 && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.byName) != 0 {
		f.t.Errorf("subscriptions left behind: %v", c.byName)
	}
}

// TestBlockingReloadAnswersAtOnce: requests the stored playlist already
// satisfies, or that can never be, are answered without waiting (a wait
// would end in 503 after the hold, which fails every case).
func TestBlockingReloadAnswersAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	live := mediaPlaylist(1, 100, 2, 1) // 100 and 101 complete, 102 has one part
	ended := append(mediaPlaylist(4, 7, 3, 0), "#EXT-X-ENDLIST\n"...)
	f.put("/live/job1/v/index.m3u8", live)
	f.put("/live/job1/vod/index.m3u8", ended)
	f.put("/live/job1/odd.m3u8", []byte("not a playlist"))
	f.put("/live/job1/v/seg.m4s", []byte("segment"))
	const held, plain, refused, segment = "public, max-age=1", "no-cache", "no-store", "public, max-age=86400"
	tests := []struct {
		url   string
		code  int
		cache string
		body  []byte
	}{
		{"/live/job1/v/index.m3u8?_HLS_msn=100", http.StatusOK, held, live},
		{"/live/job1/v/index.m3u8?_HLS_msn=101", http.StatusOK, held, live},
		{"/live/job1/v/index.m3u8?_HLS_msn=101&_HLS_part=5", http.StatusOK, held, live},
		{"/live/job1/v/index.m3u8?_HLS_msn=102&_HLS_part=0", http.StatusOK, held, live},
		{"/live/job1/v/index.m3u8?_HLS_msn=102&_HLS_part=0&_HLS_skip=YES", http.StatusOK, held, live},
		{"/live/job1/v/index.m3u8?_HLS_msn=104", http.StatusBadRequest, refused, nil},
		{"/live/job1/v/index.m3u8?_HLS_msn=104&_HLS_part=0", http.StatusBadRequest, refused, nil},
		{"/live/job1/v/index.m3u8?_HLS_part=1", http.StatusBadRequest, refused, nil},
		{"/live/job1/v/index.m3u8?_HLS_msn=-1", http.StatusBadRequest, refused, nil},
		{"/live/job1/v/index.m3u8?_HLS_msn=x", http.StatusBadRequest, refused, nil},
		{"/live/job1/v/index.m3u8?_HLS_msn=", http.StatusBadRequest, refused, nil},
		{"/live/job1/v/index.m3u8?_HLS_msn=101&_HLS_part=1.5", http.StatusBadRequest, refused, nil},
		{"/live/job1/v/index.m3u8?_HLS_skip=YES", http.StatusOK, plain, live},
		{"/live/job1/v/index.m3u8", http.StatusOK, plain, live},
		{"/live/job1/vod/index.m3u8?_HLS_msn=500", http.StatusOK, "public, max-age=4", ended},
		{"/live/job1/missing.m3u8?_HLS_msn=0", http.StatusNotFound, refused, nil},
		{"/live/job1/odd.m3u8?_HLS_msn=5", http.StatusOK, plain, []byte("not a playlist")},
		{"/live/job1/v/seg.m4s?_HLS_msn=999", http.StatusOK, segment, []byte("segment")},
	}
	for _, tt := range tests {
		resp, body := f.get(tt.url)
		if resp.StatusCode != tt.code || resp.Header.Get("Cache-Control") != tt.cache {
			t.Errorf("%s: status %d, Cache-Control %q; want %d, %q",
				tt.url, resp.StatusCode, resp.Header.Get("Cache-Control"), tt.code, tt.cache)
		}
		if tt.body != nil && !bytes.Equal(body, tt.body) {
			t.Errorf("%s: body %q", tt.url, body)
		}
	}
	f.noWaiters()
}

// TestBlockingReloadWaits: a request for a part or a segment that does not
// exist yet is answered with the first version that has it, and only then.
func TestBlockingReloadWaits(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string, newF func(Config) *fixture) {
		f := newF(Config{})
		const path, name = "/live/job1/v/index.m3u8", "job1/v/index.m3u8"
		const within = 10 * time.Second // the hold is 3 × 4 s
		f.put(path, mediaPlaylist(4, 100, 2, 1))
		nextPart := f.getAsync(t.Context(), path+"?_HLS_msn=102&_HLS_part=1")
		nextSegment := f.getAsync(t.Context(), path+"?_HLS_msn=102")
		f.waitBlocked(name, 2, within)

		f.put(path, append(mediaPlaylist(4, 100, 2, 1), "# rewritten, nothing new\n"...))
		f.waitBlocked(name, 2, within) // both read it and wait again
		for _, got := range []<-chan answer{nextPart, nextSegment} {
			select {
			case a := <-got:
				t.Fatalf("answered by a version without the part: %+v", a)
			default:
			}
		}

		withPart := mediaPlaylist(4, 100, 2, 2)
		f.put(path, withPart)
		resp, body := f.await(nextPart)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, withPart) || resp.Header.Get("Cache-Control") != "public, max-age=4" {
			t.Errorf("part 102.1: status %d, Cache-Control %q, body %q", resp.StatusCode, resp.Header.Get("Cache-Control"), body)
		}
		f.waitBlocked(name, 1, within) // only the segment's reader
		select {
		case a := <-nextSegment:
			t.Fatalf("segment 102 answered by a version where it is in progress: %+v", a)
		default:
		}

		withSegment := mediaPlaylist(4, 100, 3, 0)
		f.put(path, withSegment)
		if resp, body := f.await(nextSegment); resp.StatusCode != http.StatusOK || !bytes.Equal(body, withSegment) {
			t.Errorf("segment 102: status %d, body %q", resp.StatusCode, body)
		}
		f.noWaiters()
	})
}

// TestBlockingReloadTimeout: a playlist that is not updated in three
// target durations (1 s here) gets 503.
func TestBlockingReloadTimeout(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	f.put("/live/job1/v/index.m3u8", mediaPlaylist(1, 100, 2, 1))
	resp, _ := f.get("/live/job1/v/index.m3u8?_HLS_msn=102")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" ||
		resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("status %d, Retry-After %q, Cache-Control %q; want 503, 1, no-store",
			resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Cache-Control"))
	}
	f.noWaiters()
}

// TestBlockingReloadReleased: a held request ends when its client leaves,
// and gets 404 when the playlist or its job is removed.
func TestBlockingReloadReleased(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		release func(t *testing.T, f *fixture, cancel context.CancelFunc)
		code    int // 0: the client left
	}{
		{"client leaves", func(_ *testing.T, _ *fixture, cancel context.CancelFunc) { cancel() }, 0},
		{"playlist deleted", func(_ *testing.T, f *fixture, _ context.CancelFunc) {
			f.do(http.MethodDelete, "/live/job1/v/index.m3u8", nil, "Authorization", "Bearer T1")
		}, http.StatusNotFound},
		{"job removed", func(t *testing.T, f *fixture, _ context.CancelFunc) {
			if err := f.srv.RemoveJob(t.Context(), "job1"); err != nil {
				t.Error(err)
			}
		}, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, Config{})
			const hold = 30 * time.Second // 3 × 10 s: a release before it is not a timeout
			f.put("/live/job1/v/index.m3u8", mediaPlaylist(10, 100, 2, 1))
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			got := f.getAsync(ctx, "/live/job1/v/index.m3u8?_HLS_msn=102")
			f.waitBlocked("job1/v/index.m3u8", 1, hold/2)
			tt.release(t, f, cancel)
			if tt.code == 0 {
				if a := <-got; !errors.Is(a.err, context.Canceled) {
					t.Errorf("client: %+v, want canceled", a)
				}
				f.waitBlocked("job1/v/index.m3u8", 0, hold/2) // the handler let go
			} else if resp, _ := f.await(got); resp.StatusCode != tt.code {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.code)
			}
			f.noWaiters()
		})
	}
}
