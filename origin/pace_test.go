package origin

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"
)

// An upload that stalls with a valid token is timed out, and a reader that
// follows it is not held longer than the writer: it gets an aborted body,
// and the name stays absent.
func TestStalledUploadTimesOut(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{UploadIdleTimeout: 200 * time.Millisecond})
	pw, status := f.slowPut("/live/job1/seg1.m4s")
	if _, err := pw.Write([]byte("first chunk")); err != nil {
		t.Fatal(err)
	}
	f.waitUploaded("job1/seg1.m4s", 11)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a hang guard, not a speed assertion
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.http.URL+"/live/job1/seg1.m4s", nil)
	resp, err := f.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// The writer sends nothing more.
	body, err := io.ReadAll(resp.Body)
	if ctx.Err() != nil {
		t.Fatal("the reader of a stalled upload was held until the test's guard")
	}
	if err == nil {
		t.Fatalf("the reader got a clean end after %q, want an aborted body", body)
	}
	if got := <-status; got != http.StatusRequestTimeout {
		t.Fatalf("stalled PUT answered %d, want 408", got)
	}
	if _, ok := f.stored("job1/seg1.m4s"); ok {
		t.Error("a timed-out upload was stored")
	}
}

// An upload that trickles, never idle for long but under the minimum rate
// over a window, is timed out too.
func TestTricklingUploadTimesOut(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{UploadIdleTimeout: 10 * time.Second, UploadMinRate: 1000, UploadRateWindow: 300 * time.Millisecond})
	pw, status := f.slowPut("/live/job1/seg2.m4s")
	guard := time.After(20 * time.Second) // a hang guard, not a speed assertion
	for {
		select {
		case got := <-status:
			if got != http.StatusRequestTimeout {
				t.Fatalf("trickling PUT answered %d, want 408", got)
			}
			return
		case <-guard:
			t.Fatal("a PUT at 20 bytes/s ran until the test's guard")
		case <-time.After(50 * time.Millisecond):
			pw.Write([]byte{'x'})
		}
	}
}

// ffmpeg's chunked uploads of live segments pass: a byte at least every
// idle timeout, at more than the minimum rate.
func TestSteadyUploadPasses(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{UploadIdleTimeout: time.Second, UploadMinRate: 1000, UploadRateWindow: 300 * time.Millisecond})
	pw, status := f.slowPut("/live/job1/seg3.m4s")
	chunk := make([]byte, 500)
	for range 20 { // 500 bytes every 50 ms: 10 kB/s
		if _, err := pw.Write(chunk); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	pw.Close()
	if got := <-status; got != http.StatusNoContent {
		t.Fatalf("steady PUT answered %d, want 204", got)
	}
}
