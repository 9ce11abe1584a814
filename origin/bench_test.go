package origin

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"strconv"
	"testing"
)

const benchSegmentBytes = 1 << 20

func newBenchServer(b *testing.B, storage ...Storage) (*Server, *httptest.Server) {
	b.Helper()
	cfg := Config{Root: b.TempDir(), Authorizer: newTokens("job1", "T1"), Logger: quietLog}
	if len(storage) > 0 {
		cfg.Storage = storage[0]
	}
	s, err := New(cfg)
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

// BenchmarkGet serves a 1 MiB segment and a 2 KiB playlist over loopback
// keep-alive, one request at a time, from each Storage in the same run: the
// filesystem, and S3 on fauxqs (a fake on this machine, not AWS: its
// figures say what the origin adds, not what S3 costs). Run with -count
// and take medians.
func BenchmarkGet(b *testing.B) {
	s3 := newTestS3(b)
	for _, file := range []struct {
		name string
		size int
	}{{"video365k/seg_00001.m4s", benchSegmentBytes}, {"video365k/index.m3u8", 2 << 10}} {
		for _, backend := range []struct {
			name    string
			storage []Storage
		}{{"fs", nil}, {"s3", []Storage{s3}}} {
			b.Run(path.Ext(file.name)[1:]+"/"+backend.name, func(b *testing.B) {
				_, ts := newBenchServer(b, backend.storage...)
				url := ts.URL + "/live/job1/" + file.name
				put(b, ts, url, bytes.NewReader(make([]byte, file.size)))
				b.SetBytes(int64(file.size))
				b.ReportAllocs()
				for b.Loop() {
					getWhole(b, ts.Client(), url, file.size)
				}
			})
		}
	}
}

func getWhole(b *testing.B, client *http.Client, url string, size int) {
	resp, err := client.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || n != int64(size) {
		b.Fatalf("status %d, %d bytes", resp.StatusCode, n)
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
