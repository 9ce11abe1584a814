package origin

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"
)

// slowPut starts a chunked PUT whose body the test writes through the
// returned pipe; the status arrives on the channel.
func (f *fixture) slowPut(path string) (*io.PipeWriter, <-chan int) {
	f.t.Helper()
	pr, pw := io.Pipe()
	status := make(chan int, 1)
	req, err := http.NewRequest(http.MethodPut, f.http.URL+path, pr)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer T1")
	go func() {
		resp, err := f.http.Client().Do(req)
		if err != nil {
			status <- 0
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	f.t.Cleanup(func() { pw.CloseWithError(io.ErrUnexpectedEOF) })
	return pw, status
}

// waitUploaded returns once the origin has stored size bytes of the upload
// of name in progress.
func (f *fixture) waitUploaded(name string, size int64) {
	f.t.Helper()
	if !f.uploadReached(name, size) {
		f.t.Fatalf("upload of %s never reached %d bytes", name, size)
	}
}

// uploadReached waits for an event, not for a time: the bound only turns a
// hang into a failure. Safe to call from any goroutine.
func (f *fixture) uploadReached(name string, size int64) bool {
	return eventually(func() bool {
		up := f.srv.uploads.lookup(name)
		if up == nil {
			return false
		}
		up.mu.Lock()
		defer up.mu.Unlock()
		return up.size >= size // not state(): that would look like a waiting reader
	})
}

// waitReader returns once a reader of the upload of name waits for its
// next change: only readers call state().
func (f *fixture) waitReader(name string) {
	f.t.Helper()
	waiting := eventually(func() bool {
		up := f.srv.uploads.lookup(name)
		if up == nil {
			return false
		}
		up.mu.Lock()
		defer up.mu.Unlock()
		return up.changed != nil
	})
	if !waiting {
		f.t.Fatalf("no reader ever waited for the upload of %s", name)
	}
}

// eventually polls cond every millisecond until it holds, for 30 s at
// most (a bound that turns a hang into a failure), and reports whether it
// did.
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return true
		}
	}
	return false
}

func readN(t *testing.T, r io.Reader, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

func TestFollowUploadInProgress(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string, newF func(Config) *fixture) {
		f := newF(Config{})
		parts := [][]byte{bytes.Repeat([]byte("1"), 1000), bytes.Repeat([]byte("2"), 100<<10), []byte("3")}
		pw, status := f.slowPut("/live/job1/v/seg_7.m4s")
		pw.Write(parts[0])
		f.waitUploaded("job1/v/seg_7.m4s", int64(len(parts[0])))

		head := f.do(http.MethodHead, "/live/job1/v/seg_7.m4s", nil)
		if head.StatusCode != http.StatusOK || head.Header.Get("Content-Type") != "video/mp4" {
			t.Errorf("HEAD of an upload in progress: %d %v", head.StatusCode, head.Header)
		}
		resp := f.do(http.MethodGet, "/live/job1/v/seg_7.m4s", nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "video/mp4" {
			t.Fatalf("GET of an upload in progress: %d %v", resp.StatusCode, resp.Header)
		}
		for i, part := range parts {
			if i > 0 {
				pw.Write(part)
			}
			if got := readN(t, resp.Body, len(part)); !bytes.Equal(got, part) {
				t.Fatalf("part %d: got %d bytes that differ", i, len(got))
			}
		}
		pw.Close()
		if rest, err := io.ReadAll(resp.Body); err != nil || len(rest) != 0 {
			t.Errorf("after the upload ended: %d more bytes, err %v", len(rest), err)
		}
		if code := <-status; code != http.StatusNoContent {
			t.Errorf("PUT status %d", code)
		}
		if _, body := f.get("/live/job1/v/seg_7.m4s"); !bytes.Equal(body, bytes.Join(parts, nil)) {
			t.Errorf("stored file differs (%d bytes)", len(body))
		}
	})
}

// TestFollowFailedUpload: a reader of an upload that fails gets an error,
// never a short body that looks whole.
func TestFollowFailedUpload(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	pw, status := f.slowPut("/live/job1/v/seg_8.m4s")
	pw.Write([]byte("first chunk"))
	f.waitUploaded("job1/v/seg_8.m4s", 11)
	resp := f.do(http.MethodGet, "/live/job1/v/seg_8.m4s", nil)
	readN(t, resp.Body, 11)
	pw.CloseWithError(io.ErrUnexpectedEOF) // the transcoder dies mid-segment
	<-status
	if rest, err := io.ReadAll(resp.Body); err == nil {
		t.Errorf("reader got a clean end after %d more bytes, want an error", len(rest))
	}
	if r, _ := f.get("/live/job1/v/seg_8.m4s"); r.StatusCode != http.StatusNotFound {
		t.Errorf("failed upload is served: %d", r.StatusCode)
	}
}

// TestFollowKeepsCompleteVersion: while a manifest is being replaced,
// readers get the whole previous version, not the growing one.
func TestFollowKeepsCompleteVersion(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	f.put("/live/job1/master.mpd", []byte("<MPD old/>"))
	pw, status := f.slowPut("/live/job1/master.mpd")
	pw.Write([]byte("<MPD new"))
	f.waitUploaded("job1/master.mpd", 8)
	if resp, body := f.get("/live/job1/master.mpd"); string(body) != "<MPD old/>" || resp.ContentLength != 10 {
		t.Errorf("during replacement: %q (length %d)", body, resp.ContentLength)
	}
	pw.Write([]byte("/>"))
	pw.Close()
	<-status
	if _, body := f.get("/live/job1/master.mpd"); string(body) != "<MPD new/>" {
		t.Errorf("after replacement: %q", body)
	}
}

// answer is the response to a request sent by getAsync.
type answer struct {
	resp *http.Response
	err  error
}

// getAsync sends a GET that may be held, from another goroutine; the answer
// arrives once its header has. Receive it with await.
func (f *fixture) getAsync(ctx context.Context, path string, header ...string) <-chan answer {
	f.t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.http.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := f.http.Client().Do(req)
		got <- answer{resp, err}
	}()
	return got
}

// await receives the answer of getAsync and reads its body.
func (f *fixture) await(got <-chan answer) (*http.Response, []byte) {
	f.t.Helper()
	a := <-got
	if a.err != nil {
		f.t.Fatalf("GET: %v", a.err)
	}
	defer a.resp.Body.Close()
	body, err := io.ReadAll(a.resp.Body)
	if err != nil {
		f.t.Fatalf("read body: %v", err)
	}
	return a.resp, body
}

// pattern is n bytes in which no offset repeats nearby, so a shifted range
// never matches by accident.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// TestFollowRangeArrived: a range of an upload in progress that has
// arrived is answered at once; ranges that cover the upload from its start,
// and ranges a growing file cannot answer, get the whole upload.
func TestFollowRangeArrived(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	const path, name = "/live/job1/v/seg_1.m4s", "job1/v/seg_1.m4s"
	data := pattern(3000)
	pw, status := f.slowPut(path)
	pw.Write(data[:1000])
	f.waitUploaded(name, 1000)

	ranges := []struct {
		header, contentRange string
		from, to             int
	}{
		{"bytes=100-199", "bytes 100-199/*", 100, 200},
		{"bytes=0-99", "bytes 0-99/*", 0, 100}, // an LL-HLS part at the start of its segment
		{"bytes=999-999", "bytes 999-999/*", 999, 1000},
	}
	for _, tt := range ranges {
		resp, body := f.get(path, "Range", tt.header)
		if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Range") != tt.contentRange {
			t.Errorf("%s: status %d, Content-Range %q", tt.header, resp.StatusCode, resp.Header.Get("Content-Range"))
		}
		if resp.ContentLength != int64(tt.to-tt.from) || !bytes.Equal(body, data[tt.from:tt.to]) {
			t.Errorf("%s: length %d, %d bytes that differ from [%d, %d)", tt.header, resp.ContentLength, len(body), tt.from, tt.to)
		}
		if resp.Header.Get("Content-Type") != "video/mp4" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", tt.header, resp.Header)
		}
	}
	head := f.do(http.MethodHead, path, nil, "Range", "bytes=100-199")
	if head.StatusCode != http.StatusPartialContent || head.Header.Get("Content-Range") != "bytes 100-199/*" {
		t.Errorf("HEAD of a range: status %d, Content-Range %q", head.StatusCode, head.Header.Get("Content-Range"))
	}

	whole := []struct{ name, rangeHeader string }{
		{"open from 0", "bytes=0-"},
		{"Shaka's open end from 0", "bytes=0-9007199254740991"},
		{"several ranges", "bytes=0-1,5-6"},
		{"suffix", "bytes=-5"},
		{"backwards", "bytes=5-2"},
		{"other unit", "pages=1-2"},
	}
	for _, tt := range whole {
		resp := f.do(http.MethodGet, path, nil, "Range", tt.rangeHeader)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Range") != "" || resp.ContentLength != -1 {
			t.Errorf("%s: status %d, Content-Range %q, length %d; want 200 streamed",
				tt.name, resp.StatusCode, resp.Header.Get("Content-Range"), resp.ContentLength)
		}
		if got := readN(t, resp.Body, 1000); !bytes.Equal(got, data[:1000]) {
			t.Errorf("%s: the upload's first 1000 bytes differ", tt.name)
		}
		resp.Body.Close() // the upload goes on
	}
	ifRange := f.do(http.MethodGet, path, nil, "Range", "bytes=100-199", "If-Range", `"v1"`)
	if ifRange.StatusCode != http.StatusOK {
		t.Errorf("If-Range on an upload in progress: status %d, want 200", ifRange.StatusCode)
	}
	ifRange.Body.Close()

	pw.Write(data[1000:])
	pw.Close()
	if code := <-status; code != http.StatusNoContent {
		t.Fatalf("PUT status %d", code)
	}
	resp, body := f.get(path, "Range", "bytes=100-199")
	if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Range") != "bytes 100-199/3000" ||
		!bytes.Equal(body, data[100:200]) {
		t.Errorf("range of the stored file: status %d, Content-Range %q", resp.StatusCode, resp.Header.Get("Content-Range"))
	}
}

// TestFollowRangeWaits: a range past what has arrived is answered when the
// writer sends it.
func TestFollowRangeWaits(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	const path, name = "/live/job1/v/seg_2.m4s", "job1/v/seg_2.m4s"
	data := pattern(2000)
	pw, status := f.slowPut(path)
	pw.Write(data[:1000])
	f.waitUploaded(name, 1000)

	got := f.getAsync(t.Context(), path, "Range", "bytes=1500-1599")
	f.waitReader(name)
	pw.Write(data[1000:1400]) // still short of the range
	f.waitUploaded(name, 1400)
	f.waitReader(name)
	select {
	case a := <-got:
		t.Fatalf("answered before the range arrived: %+v", a)
	default:
	}
	pw.Write(data[1400:])
	resp, body := f.await(got)
	if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Range") != "bytes 1500-1599/*" {
		t.Errorf("status %d, Content-Range %q", resp.StatusCode, resp.Header.Get("Content-Range"))
	}
	if !bytes.Equal(body, data[1500:1600]) {
		t.Errorf("%d bytes that differ from [1500, 1600)", len(body))
	}
	pw.Close()
	if code := <-status; code != http.StatusNoContent {
		t.Errorf("PUT status %d", code)
	}
}

// TestFollowRangeGrows: a range that starts in what has arrived streams the
// rest as it comes, and ends at its last byte or with the upload.
func TestFollowRangeGrows(t *testing.T) {
	t.Parallel()
	data := pattern(3000)
	tests := []struct {
		name, header, contentRange string
		from, to                   int
	}{
		{"open end", "bytes=500-", "bytes 500-9007199254740991/*", 500, 3000},
		{"Shaka's open end", "bytes=500-9007199254740991", "bytes 500-9007199254740991/*", 500, 3000},
		{"closed, past the arrival", "bytes=900-1099", "bytes 900-1099/*", 900, 1100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, Config{})
			pw, status := f.slowPut("/live/job1/v/seg_3.m4s")
			pw.Write(data[:1000])
			f.waitUploaded("job1/v/seg_3.m4s", 1000)
			resp := f.do(http.MethodGet, "/live/job1/v/seg_3.m4s", nil, "Range", tt.header)
			if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Range") != tt.contentRange ||
				resp.ContentLength != -1 {
				t.Fatalf("status %d, Content-Range %q, length %d", resp.StatusCode, resp.Header.Get("Content-Range"), resp.ContentLength)
			}
			if got := readN(t, resp.Body, 1000-tt.from); !bytes.Equal(got, data[tt.from:1000]) {
				t.Fatal("the bytes that had arrived differ")
			}
			pw.Write(data[1000:2000])
			if tt.to <= 2000 { // the range ends while the upload goes on
				if rest, err := io.ReadAll(resp.Body); err != nil || !bytes.Equal(rest, data[1000:tt.to]) {
					t.Errorf("rest of the range: %d bytes, err %v; want [1000, %d)", len(rest), err, tt.to)
				}
			}
			pw.Write(data[2000:])
			pw.Close()
			if code := <-status; code != http.StatusNoContent {
				t.Errorf("PUT status %d", code)
			}
			if tt.to > 2000 { // the range ends with the upload
				if rest, err := io.ReadAll(resp.Body); err != nil || !bytes.Equal(rest, data[1000:tt.to]) {
					t.Errorf("rest of the upload: %d bytes, err %v; want [1000, %d)", len(rest), err, tt.to)
				}
			}
		})
	}
}

// TestFollowRangeUnsatisfiable: a range past the end of an upload that
// completes shorter gets 416 with the final length.
func TestFollowRangeUnsatisfiable(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	const path, name = "/live/job1/v/seg_4.m4s", "job1/v/seg_4.m4s"
	pw, status := f.slowPut(path)
	pw.Write(pattern(1000))
	f.waitUploaded(name, 1000)
	got := f.getAsync(t.Context(), path, "Range", "bytes=1000-")
	f.waitReader(name)
	pw.Close()
	<-status
	resp, _ := f.await(got)
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable || resp.Header.Get("Content-Range") != "bytes */1000" {
		t.Errorf("status %d, Content-Range %q; want 416, bytes */1000", resp.StatusCode, resp.Header.Get("Content-Range"))
	}
}

// TestFollowRangeFailedUpload: a range under way aborts when the upload
// fails; one still waiting for its first byte gets 404, as nothing is stored.
func TestFollowRangeFailedUpload(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	const path, name = "/live/job1/v/seg_5.m4s", "job1/v/seg_5.m4s"
	pw, status := f.slowPut(path)
	pw.Write(pattern(1000))
	f.waitUploaded(name, 1000)
	waiting := f.getAsync(t.Context(), path, "Range", "bytes=5000-")
	f.waitReader(name) // the only reader yet
	resp := f.do(http.MethodGet, path, nil, "Range", "bytes=100-")
	if resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
	readN(t, resp.Body, 900)
	pw.CloseWithError(io.ErrUnexpectedEOF)
	<-status
	if rest, err := io.ReadAll(resp.Body); err == nil {
		t.Errorf("reader got a clean end after %d more bytes, want an error", len(rest))
	}
	if resp, _ := f.await(waiting); resp.StatusCode != http.StatusNotFound {
		t.Errorf("waiting range: status %d, want 404", resp.StatusCode)
	}
}

func TestParseRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header      string
		first, last int64
		ok          bool
	}{
		{"bytes=100-199", 100, 199, true},
		{"bytes=0-0", 0, 0, true},
		{"bytes=70000-", 70000, liveLastByte, true},
		{"bytes=70000-9007199254740991", 70000, liveLastByte, true},
		{"bytes=5-9223372036854775807", 5, liveLastByte, true},
		{"bytes= 5-6 ", 5, 6, true},
		{"", 0, 0, false},
		{"bytes=-500", 0, 0, false}, // a suffix of an unknown length
		{"bytes=0-1,5-6", 0, 0, false},
		{"bytes=7-6", 0, 0, false},
		{"bytes=+5-6", 0, 0, false},
		{"bytes=5", 0, 0, false},
		{"items=5-6", 0, 0, false},
		{"bytes=9007199254740992-", 0, 0, false},
		{"bytes=99999999999999999999-", 0, 0, false},
	}
	for _, tt := range tests {
		first, last, ok := parseRange(tt.header)
		if ok != tt.ok || ok && (first != tt.first || last != tt.last) {
			t.Errorf("%q: %d-%d %v, want %d-%d %v", tt.header, first, last, ok, tt.first, tt.last, tt.ok)
		}
	}
}

// TestEarlyRequestWaitsForItsUpload: a player that asks for the next
// segment of a job on the air just before the encoder begins it gets the
// segment, not a 404; a missing segment of a job not on the air is a 404.
func TestEarlyRequestWaitsForItsUpload(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	onAir, _ := f.slowPut("/live/job1/v/seg_1.m4s")
	onAir.Write([]byte("segment one, in progress"))
	f.waitUploaded("job1/v/seg_1.m4s", 1)

	got := make(chan []byte, 1)
	go func() {
		resp, body := f.get("/live/job1/v/seg_2.m4s")
		if resp.StatusCode != http.StatusOK {
			body = []byte(resp.Status)
		}
		got <- body
	}()
	f.waitEarlyReader("job1/v/seg_2.m4s")
	next, status := f.slowPut("/live/job1/v/seg_2.m4s")
	next.Write([]byte("segment two"))
	next.Close()
	if code := <-status; code != http.StatusNoContent {
		t.Fatalf("PUT status %d", code)
	}
	if body := <-got; string(body) != "segment two" {
		t.Errorf("early GET of the next segment: %q", body)
	}

	if r, _ := f.get("/live/job2/v/seg_1.m4s"); r.StatusCode != http.StatusNotFound {
		t.Errorf("a segment of a job not on the air: %d, want 404", r.StatusCode)
	}
	if r, _ := f.get("/live/job1/v/missing.m3u8"); r.StatusCode != http.StatusNotFound {
		t.Errorf("a playlist that does not exist: %d, want 404", r.StatusCode)
	}
}

// waitEarlyReader returns once a reader waits for an upload of name to
// start.
func (f *fixture) waitEarlyReader(name string) {
	f.t.Helper()
	waiting := eventually(func() bool {
		c := &f.srv.uploads.started
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.byName[name]
		return ok
	})
	if !waiting {
		f.t.Fatalf("no reader ever waited for an upload of %s to start", name)
	}
}
