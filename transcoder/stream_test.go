package transcoder

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/origin"
)

// newStreamingRelay is a relay with streaming on, writing to the real
// origin as job jobID.
func newStreamingRelay(t *testing.T, jobID string) (*relay, *testOrigin) {
	t.Helper()
	o := newTestOrigin(t, jobID)
	rl, err := startRelay(o.URL(jobID), o.token, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	rl.streaming.Store(true)
	return rl, o
}

// chunk writes one chunk of a chunked body, as ffmpeg does at each flush.
func chunk(t *testing.T, w io.Writer, data string) {
	t.Helper()
	if _, err := fmt.Fprintf(w, "%x\r\n%s\r\n", len(data), data); err != nil {
		t.Fatal(err)
	}
}

// followSegment GETs a segment at the origin until the origin knows it
// (404 before the relay's upload arrives), for at most 10 s.
func followSegment(t *testing.T, url string) *http.Response {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusOK {
			t.Cleanup(func() { resp.Body.Close() })
			return resp
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: still %d: the segment never reached the origin while it was uploaded", url, resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRelayStreamsSegment: with streaming on, a reader of a segment at the
// origin gets its first chunk while ffmpeg has not finished the upload, and
// a manifest written after the segment reaches the origin after it.
func TestRelayStreamsSegment(t *testing.T) {
	t.Parallel()
	const job = "ll1"
	rl, o := newStreamingRelay(t, job)
	seg := dialRelay(t, rl)
	fmt.Fprintf(seg, "PUT %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", seg.path("chunk-g1p0-0-00001.m4s"))
	chunk(t, seg, "moof1mdat1")

	resp := followSegment(t, o.URL(job)+"chunk-g1p0-0-00001.m4s")
	first := make([]byte, len("moof1mdat1"))
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "moof1mdat1" {
		t.Fatalf("first chunk at the origin: %q, %v", first, err)
	}
	// Only now does ffmpeg finish the segment, then write the manifest.
	chunk(t, seg, "moof2mdat2")
	fmt.Fprint(seg, "0\r\n\r\n")
	if st, err := readStatus(seg); err != nil || st != http.StatusAccepted {
		t.Fatalf("relay answered the segment %d, %v", st, err)
	}
	mpd := dialRelay(t, rl)
	rawPut(t, mpd, "master.mpd", "<MPD/>")
	_, _ = io.ReadAll(mpd)

	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "moof2mdat2" {
		t.Errorf("rest of the segment at the origin: %q, %v", rest, err)
	}
	rl.close(5 * time.Second)
	puts, _, _ := o.snapshot()
	var order []string
	for _, p := range puts {
		order = append(order, p.name)
	}
	if len(order) != 2 || order[0] != "chunk-g1p0-0-00001.m4s" || order[1] != "master.mpd" {
		t.Errorf("origin stored %q, want the segment, then the manifest", order)
	}
	if got := rl.bytesOut.Load(); got != int64(len("moof1mdat1moof2mdat2<MPD/>")) {
		t.Errorf("bytesOut = %d", got)
	}
}

// TestRelayStreamBrokenOff: when ffmpeg's upload breaks off mid-segment the
// origin does not publish the part.
func TestRelayStreamBrokenOff(t *testing.T) {
	t.Parallel()
	const job = "ll2"
	rl, o := newStreamingRelay(t, job)
	seg := dialRelay(t, rl)
	fmt.Fprintf(seg, "PUT %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", seg.path("chunk-g1p0-0-00002.m4s"))
	chunk(t, seg, "moof1mdat1")
	resp := followSegment(t, o.URL(job)+"chunk-g1p0-0-00002.m4s")
	seg.Close() // ffmpeg killed mid-segment
	if b, err := io.ReadAll(resp.Body); err == nil {
		t.Errorf("reader of the broken segment got a clean end after %q", b)
	}
	rl.close(5 * time.Second)
	if _, err := os.Stat(o.Path(job, "chunk-g1p0-0-00002.m4s")); err == nil {
		t.Error("the origin stored a segment whose upload broke off")
	}
}

// TestTimeURL: players find the origin's clock at the host they play from.
func TestTimeURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"http://127.0.0.1:1081/live/j1/":          "http://127.0.0.1:1081" + origin.TimePath,
		"https://cdn.example/origin/live/j1/":     "https://cdn.example/origin" + origin.TimePath,
		"http://127.0.0.1:1081/uploads/j1/?x=1#y": "",
	} {
		if got := timeURL(in); got != want {
			t.Errorf("timeURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func readStatus(c io.Reader) (int, error) {
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, nil
}

// TestRelayMPDPlayerTiming: a low-latency MPD is reloaded once a segment,
// not every 500 s, so players find a new run after a reconnect; a normal
// MPD asks for one segment of buffer, not two.
func TestRelayMPDPlayerTiming(t *testing.T) {
	t.Parallel()
	const mpd = `<MPD type="dynamic" minimumUpdatePeriod="PT500S" maxSegmentDuration="PT4.0S" minBufferTime="PT8.0S">`
	for _, c := range []struct {
		streaming bool
		want      string
	}{
		{true, `<MPD type="dynamic" minimumUpdatePeriod="PT4.0S" maxSegmentDuration="PT4.0S" minBufferTime="PT8.0S">`},
		{false, `<MPD type="dynamic" minimumUpdatePeriod="PT500S" maxSegmentDuration="PT4.0S" minBufferTime="PT4.0S">`},
	} {
		rl, o := newRelayUnderTest(t)
		rl.streaming.Store(c.streaming)
		conn := dialRelay(t, rl)
		rawPut(t, conn, "master.mpd", mpd)
		_, _ = io.ReadAll(conn)
		rl.close(5 * time.Second)
		if w, _ := o.get(); len(w) != 1 || w[0] != "PUT master.mpd "+c.want {
			t.Errorf("streaming %v: origin got %q, want %q", c.streaming, w, c.want)
		}
	}
}
