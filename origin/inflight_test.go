package origin

import (
	"bytes"
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
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if up := f.srv.uploads.lookup(name); up != nil {
			if got, _, _, _ := up.state(); got >= size {
				return true
			}
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
	t.Parallel()
	f := newFixture(t, Config{})
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
