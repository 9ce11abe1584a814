package origin

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

const benchSegmentBytes = 1 << 20

func newBenchServer(b *testing.B) (*Server, *httptest.Server) {
	b.Helper()
	s, err := New(Config{Root: b.TempDir(), Authorizer: newTokens("job1", "T1"), Logger: quietLog})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(s)
	b.Cleanup(func() {
		ts.Close()
		s.Close()
	})
	return s, ts
}

// BenchmarkGetSegment serves a 1 MiB segment over loopback keep-alive.
func BenchmarkGetSegment(b *testing.B) {
	_, ts := newBenchServer(b)
	url := ts.URL + "/live/job1/video365k/seg_00001.m4s"
	put(b, ts, url, bytes.NewReader(make([]byte, benchSegmentBytes)))
	client := ts.Client()
	b.SetBytes(benchSegmentBytes)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || n != benchSegmentBytes {
			b.Fatalf("status %d, %d bytes", resp.StatusCode, n)
		}
	}
}

// BenchmarkPutSegment stores 1 MiB segments under new names, as a live
// stream does, chunked as ffmpeg sends them and with a Content-Length.
// (Replacing an existing name costs more on ext4: auto_da_alloc starts
// writeback on rename-over; only manifests are replaced, and they are small.)
func BenchmarkPutSegment(b *testing.B) {
	data := make([]byte, benchSegmentBytes)
	for _, bc := range []struct {
		name string
		body func() io.Reader
	}{
		{"chunked", func() io.Reader { return &slowBody{data: data, chunk: 32 << 10} }},
		{"length", func() io.Reader { return bytes.NewReader(data) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			_, ts := newBenchServer(b)
			b.SetBytes(benchSegmentBytes)
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				n++
				put(b, ts, ts.URL+"/live/job1/video365k/seg_"+strconv.Itoa(n)+".m4s", bc.body())
			}
		})
	}
}

func put(b *testing.B, ts *httptest.Server, url string, body io.Reader) {
	req, err := http.NewRequest(http.MethodPut, url, body)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer T1")
	resp, err := ts.Client().Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		b.Fatalf("PUT status %d", resp.StatusCode)
	}
}
