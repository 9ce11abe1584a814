package origin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	authz := newTokens()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no root", Config{Authorizer: authz}},
		{"no authorizer", Config{Root: t.TempDir()}},
		{"negative cap", Config{Root: t.TempDir(), Authorizer: authz, MaxFileBytes: -1}},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); err == nil {
			t.Errorf("%s: New succeeded, want an error", tt.name)
		}
	}
}

func TestWriteAuthorization(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	tests := []struct {
		name   string
		header string
		want   int
	}{
		{"missing", "", http.StatusUnauthorized},
		{"basic scheme", "Basic dXNlcjpUMQ==", http.StatusUnauthorized},
		{"empty bearer", "Bearer ", http.StatusUnauthorized},
		{"wrong token", "Bearer nope", http.StatusForbidden},
		{"other job's token", "Bearer T2", http.StatusForbidden},
		{"allowed", "Bearer T1", http.StatusNoContent},
		{"scheme any case", "bearer T1", http.StatusNoContent},
	}
	for _, tt := range tests {
		for _, method := range []string{http.MethodPut, http.MethodPost, http.MethodDelete} {
			var hdr []string
			if tt.header != "" {
				hdr = []string{"Authorization", tt.header}
			}
			resp := f.do(method, "/live/job1/auth.ts", strings.NewReader("x"), hdr...)
			if resp.StatusCode != tt.want {
				t.Errorf("%s %s: status %d, want %d", tt.name, method, resp.StatusCode, tt.want)
			}
			if tt.want == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: 401 without WWW-Authenticate", tt.name, method)
			}
		}
	}
}

func TestWriteThenRead(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string, newF func(Config) *fixture) {
		f := newF(Config{})
		for _, method := range []string{http.MethodPut, http.MethodPost} {
			content := []byte("#EXTM3U via " + method + "\n")
			resp := f.do(method, "/live/job1/video365k/index.m3u8", bytes.NewReader(content), "Authorization", "Bearer T1")
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("%s: status %d", method, resp.StatusCode)
			}
			if got, _ := f.stored("job1/video365k/index.m3u8"); !bytes.Equal(got, content) {
				t.Errorf("%s: on disk %q, want %q", method, got, content)
			}
			if _, body := f.get("/live/job1/video365k/index.m3u8"); !bytes.Equal(body, content) {
				t.Errorf("%s: served %q, want %q", method, body, content)
			}
		}
	})
}

func TestWriteConflicts(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	f.put("/live/job1/video/seg_1.ts", []byte("x"))
	for _, path := range []string{"/live/job1/video", "/live/job1/video/seg_1.ts/x.ts"} {
		resp := f.do(http.MethodPut, path, strings.NewReader("y"), "Authorization", "Bearer T1")
		if resp.StatusCode != http.StatusConflict {
			t.Errorf("PUT %s: status %d, want 409", path, resp.StatusCode)
		}
	}
	if b, _ := f.stored("job1/video/seg_1.ts"); string(b) != "x" {
		t.Errorf("seg_1.ts became %q", b)
	}
	if left := f.hiddenFiles(); len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

func TestContentTypeAndCache(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string, newF func(Config) *fixture) {
		f := newF(Config{})
		const manifest, segment, key = "no-cache", "public, max-age=86400", "private, no-cache"
		tests := []struct {
			file, contentType, cache string
		}{
			{"master.m3u8", "application/vnd.apple.mpegurl", manifest},
			{"video365k/index.M3U8", "application/vnd.apple.mpegurl", manifest},
			{"master.mpd", "application/dash+xml", manifest},
			{"video365k/seg_00001.m4s", "video/mp4", segment},
			{"init-stream0.m4s", "video/mp4", segment},
			{"video365k/init.mp4", "video/mp4", segment},
			{"audio128k/seg_00001.m4s", "audio/mp4", segment},
			{"init_audio128k.mp4", "audio/mp4", segment},
			{"AUDIO_aac/seg_1.m4s", "audio/mp4", segment},
			{"seg_00001.ts", "video/mp2t", segment},
			{"a.m4a", "audio/mp4", segment},
			{"a.aac", "audio/aac", segment},
			{"subs/en.vtt", "text/vtt", segment},
			{"enc.key", "application/octet-stream", key},
			{"thumbnail.jpg", "image/jpeg", manifest},
			{"recordings/g1p0/info.json", "application/json", manifest},
			{"blob.bin", "application/octet-stream", segment},
		}
		for _, tt := range tests {
			f.put("/live/job1/"+tt.file, []byte("content of "+tt.file))
			resp, body := f.get("/live/job1/" + tt.file)
			if resp.StatusCode != http.StatusOK || string(body) != "content of "+tt.file {
				t.Errorf("%s: status %d body %q", tt.file, resp.StatusCode, body)
			}
			if got := resp.Header.Get("Content-Type"); got != tt.contentType {
				t.Errorf("%s: Content-Type %q, want %q", tt.file, got, tt.contentType)
			}
			if got := resp.Header.Get("Cache-Control"); got != tt.cache {
				t.Errorf("%s: Cache-Control %q, want %q", tt.file, got, tt.cache)
			}
			if resp.Header.Get("Date") == "" || resp.Header.Get("ETag") == "" {
				t.Errorf("%s: missing Date or ETag: %v", tt.file, resp.Header)
			}
			// Manifests must not carry the one-second Last-Modified.
			if lm := resp.Header.Get("Last-Modified"); (lm == "") != (tt.cache == manifest) {
				t.Errorf("%s: Last-Modified %q with Cache-Control %q", tt.file, lm, tt.cache)
			}
		}
	})
}

func TestNotFound(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string, newF func(Config) *fixture) {
		f := newF(Config{})
		f.put("/live/job1/video365k/seg_1.m4s", []byte("x"))
		for _, path := range []string{"/live/job1/missing.m3u8", "/live/job9/master.mpd",
			"/live/job1/video365k", "/live/job1", "/live/job1/video365k/seg_1.m4s/x", "/"} {
			resp, _ := f.get(path)
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s: status %d, want 404", path, resp.StatusCode)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("GET %s: Cache-Control %q, want no-store", path, got)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("GET %s: 404 without CORS", path)
			}
		}
	})
}

func TestCORS(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	f.put("/live/job1/master.mpd", []byte("<MPD/>"))
	resp, _ := f.get("/live/job1/master.mpd", "Origin", "https://player.example")
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("GET: Allow-Origin %q", got)
	}
	expose := resp.Header.Get("Access-Control-Expose-Headers")
	for _, h := range []string{"Content-Length", "Content-Range", "Date"} {
		if !strings.Contains(expose, h) {
			t.Errorf("Expose-Headers %q lacks %s", expose, h)
		}
	}

	tests := []struct {
		path, askHeaders, wantAllowHeaders string
	}{
		{"/live/job1/master.mpd", "range", "range"},
		{"/live/job1/not-yet.m4s", "", "Range, If-None-Match, If-Modified-Since"},
		{"/live/job1", "range", "range"},
	}
	for _, tt := range tests {
		hdr := []string{"Origin", "https://player.example", "Access-Control-Request-Method", "GET"}
		if tt.askHeaders != "" {
			hdr = append(hdr, "Access-Control-Request-Headers", tt.askHeaders)
		}
		resp := f.do(http.MethodOptions, tt.path, nil, hdr...)
		if resp.StatusCode != http.StatusNoContent {
			t.Errorf("OPTIONS %s: status %d", tt.path, resp.StatusCode)
		}
		want := map[string]string{
			"Access-Control-Allow-Origin":  "*",
			"Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
			"Access-Control-Allow-Headers": tt.wantAllowHeaders,
		}
		for k, v := range want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("OPTIONS %s: %s %q, want %q", tt.path, k, got, v)
			}
		}
	}
}

func TestRangeHeadAndConditional(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string, newF func(Config) *fixture) {
		f := newF(Config{})
		content := []byte("0123456789abcdefghijklmnopqrstuvwxyz")
		f.put("/live/job1/v/seg_1.m4s", content)

		resp, body := f.get("/live/job1/v/seg_1.m4s", "Range", "bytes=10-19")
		if resp.StatusCode != http.StatusPartialContent || string(body) != "abcdefghij" {
			t.Errorf("range: status %d body %q", resp.StatusCode, body)
		}
		if got := resp.Header.Get("Content-Range"); got != "bytes 10-19/36" {
			t.Errorf("Content-Range %q", got)
		}
		resp, body = f.get("/live/job1/v/seg_1.m4s", "Range", "bytes=-6")
		if resp.StatusCode != http.StatusPartialContent || string(body) != "uvwxyz" {
			t.Errorf("suffix range: status %d body %q", resp.StatusCode, body)
		}
		resp, _ = f.get("/live/job1/v/seg_1.m4s", "Range", "bytes=100-200")
		if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
			t.Errorf("unsatisfiable range: status %d", resp.StatusCode)
		}

		head := f.do(http.MethodHead, "/live/job1/v/seg_1.m4s", nil)
		headBody, _ := io.ReadAll(head.Body)
		if head.StatusCode != http.StatusOK || head.ContentLength != int64(len(content)) || len(headBody) != 0 {
			t.Errorf("HEAD: status %d length %d body %d bytes", head.StatusCode, head.ContentLength, len(headBody))
		}
		if head.Header.Get("Content-Type") != "video/mp4" || head.Header.Get("Accept-Ranges") != "bytes" {
			t.Errorf("HEAD headers: %v", head.Header)
		}

		resp, _ = f.get("/live/job1/v/seg_1.m4s", "If-None-Match", head.Header.Get("ETag"))
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("If-None-Match: status %d, want 304", resp.StatusCode)
		}
		f.put("/live/job1/v/seg_1.m4s", []byte("replaced"))
		resp, body = f.get("/live/job1/v/seg_1.m4s", "If-None-Match", head.Header.Get("ETag"))
		if resp.StatusCode != http.StatusOK || string(body) != "replaced" {
			t.Errorf("If-None-Match after replace: status %d body %q", resp.StatusCode, body)
		}
	})
}

// TestManifestNotStaleWithinSecond: a manifest replaced within the same
// second must not answer 304 to If-Modified-Since.
func TestManifestNotStaleWithinSecond(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	f.put("/live/job1/master.m3u8", []byte("#EXTM3U\n#1\n"))
	since := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	resp, body := f.get("/live/job1/master.m3u8", "If-Modified-Since", since)
	if resp.StatusCode != http.StatusOK || string(body) != "#EXTM3U\n#1\n" {
		t.Errorf("If-Modified-Since on a manifest: status %d body %q", resp.StatusCode, body)
	}
}

// TestAtomicReplace rewrites a file in small chunks while readers fetch it:
// every read must be one whole version.
func TestAtomicReplace(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string, newF func(Config) *fixture) {
		f := newF(Config{})
		versions := [][]byte{
			bytes.Repeat([]byte("a"), 200<<10),
			bytes.Repeat([]byte("b"), 300<<10),
		}
		const path = "/live/job1/master.mpd"
		f.put(path, versions[0])

		done := make(chan struct{})
		var wg sync.WaitGroup
		var reads, partial sync.Map
		for r := range 4 {
			wg.Go(func() {
				for n := 0; ; n++ {
					select {
					case <-done:
						reads.Store(r, n)
						return
					default:
					}
					resp, err := f.http.Client().Get(f.http.URL + path)
					if err != nil {
						partial.Store(fmt.Sprint(r, n), err.Error())
						continue
					}
					body, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil || !(bytes.Equal(body, versions[0]) || bytes.Equal(body, versions[1])) {
						partial.Store(fmt.Sprint(r, n), fmt.Sprintf("%d bytes, err %v", len(body), err))
					}
				}
			})
		}
		for i := range 30 {
			f.do(http.MethodPut, path, &slowBody{data: versions[i%2], chunk: 8 << 10}, "Authorization", "Bearer T1")
		}
		close(done)
		wg.Wait()
		partial.Range(func(k, v any) bool {
			t.Errorf("read %v saw a partial file: %v", k, v)
			return true
		})
		total := 0
		reads.Range(func(_, v any) bool { total += v.(int); return true })
		if total == 0 {
			t.Error("readers never read during the rewrites")
		}
		if left := f.hiddenFiles(); len(left) != 0 {
			t.Errorf("temporary files left behind: %v", left)
		}
	})
}

// slowBody hands its data out in small chunks with no length, so the client
// sends it chunked, like ffmpeg.
type slowBody struct {
	data  []byte
	chunk int
}

func (s *slowBody) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), s.chunk)], s.data)
	s.data = s.data[n:]
	return n, nil
}

func TestDelete(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string, newF func(Config) *fixture) {
		f := newF(Config{})
		f.put("/live/job1/v/seg_1.ts", []byte("x"))
		f.put("/live/job1/v/seg_2.ts", []byte("y"))
		tests := []struct {
			name, path, auth string
			want             int
		}{
			{"no token", "/live/job1/v/seg_1.ts", "", http.StatusUnauthorized},
			{"other job's token", "/live/job1/v/seg_1.ts", "Bearer T2", http.StatusForbidden},
			{"existing", "/live/job1/v/seg_1.ts", "Bearer T1", http.StatusNoContent},
			{"again", "/live/job1/v/seg_1.ts", "Bearer T1", http.StatusNoContent},
			{"never existed", "/live/job1/nothing/seg_9.ts", "Bearer T1", http.StatusNoContent},
			{"under a file", "/live/job1/v/seg_2.ts/x", "Bearer T1", http.StatusNoContent},
			{"a folder", "/live/job1/v", "Bearer T1", http.StatusConflict},
		}
		if backend == "s3" { // a bucket has no folders: nothing under that name
			tests[len(tests)-1].want = http.StatusNoContent
		}
		for _, tt := range tests {
			var hdr []string
			if tt.auth != "" {
				hdr = []string{"Authorization", tt.auth}
			}
			if got := f.do(http.MethodDelete, tt.path, nil, hdr...).StatusCode; got != tt.want {
				t.Errorf("%s: status %d, want %d", tt.name, got, tt.want)
			}
		}
		if _, ok := f.stored("job1/v/seg_1.ts"); ok {
			t.Error("seg_1.ts still on disk")
		}
		if resp, _ := f.get("/live/job1/v/seg_1.ts"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET after DELETE: status %d", resp.StatusCode)
		}
		if b, ok := f.stored("job1/v/seg_2.ts"); !ok || string(b) != "y" {
			t.Error("seg_2.ts was touched")
		}
	})
}

// A crash mid-upload leaves a temporary file; the next origin on that root
// removes it, and nothing else.
func TestNewRemovesStaleTemporaryFiles(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	files := map[string]bool{ // name → kept
		"job1/.seg_1.m4s.k2j3.tmp": false, "job1/v/.master.m3u8.9x.tmp": false,
		"job1/seg_2.m4s": true, "job1/tmp": true, "job1/.hidden": true,
	}
	for name := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := New(Config{Root: root, Authorizer: newTokens()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for name, kept := range files {
		if _, err := os.Stat(filepath.Join(root, name)); (err == nil) != kept {
			t.Errorf("%s: kept %v, want %v", name, err == nil, kept)
		}
	}
}

func TestRemoveJob(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string, newF func(Config) *fixture) {
		f := newF(Config{})
		f.put("/live/job1/master.mpd", []byte("m"))
		f.put("/live/job1/v/seg_1.m4s", []byte("s"))
		if resp := f.do(http.MethodPut, "/live/job2/master.mpd", strings.NewReader("2"), "Authorization", "Bearer T2"); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("PUT job2: %d", resp.StatusCode)
		}
		for range 2 { // idempotent
			if err := f.srv.RemoveJob(t.Context(), "job1"); err != nil {
				t.Fatalf("RemoveJob: %v", err)
			}
		}
		if _, err := os.Stat(filepath.Join(f.root, "job1")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("job1 folder still there: %v", err)
		}
		if folders := f.folders(); !slices.Equal(folders, []string{"job2"}) {
			t.Errorf("%s holds %v after the removal, want [job2]", backend, folders)
		}
		if n, err := f.srv.JobBytes(t.Context(), "job2"); n != 1 || err != nil {
			t.Errorf("JobBytes(job2) = %d, %v; want 1", n, err)
		}
		if b, ok := f.stored("job2/master.mpd"); !ok || string(b) != "2" {
			t.Error("job2 was touched")
		}
		if err := f.srv.RemoveJob(t.Context(), "never-had-outputs"); err != nil {
			t.Errorf("RemoveJob of a job without outputs: %v", err)
		}
		for _, bad := range []string{"", "..", "../job2", "job2/master.mpd"} {
			if err := f.srv.RemoveJob(t.Context(), bad); err == nil {
				t.Errorf("RemoveJob(%q) succeeded", bad)
			}
		}
		if _, ok := f.stored("job2/master.mpd"); !ok {
			t.Error("a bad id reached job2")
		}
	})
}

// TestNoRemovalOverHTTP: a job's outputs go only when its Sweeper finds the
// job deleted; no request on /live/<job> removes them, whatever its token.
func TestNoRemovalOverHTTP(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	f.put("/live/job1/master.mpd", []byte("m"))
	for _, auth := range []string{"", "Bearer T1", "Bearer anything"} {
		var hdr []string
		if auth != "" {
			hdr = []string{"Authorization", auth}
		}
		resp := f.do(http.MethodDelete, "/live/job1", nil, hdr...)
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD, OPTIONS" {
			t.Errorf("DELETE with %q: status %d, Allow %q", auth, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	if _, ok := f.stored("job1/master.mpd"); !ok {
		t.Error("outputs removed over HTTP")
	}
}

func TestSizeCap(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{MaxFileBytes: 1000})
	tests := []struct {
		name string
		body io.Reader
		want int
	}{
		{"at the cap, with length", bytes.NewReader(make([]byte, 1000)), http.StatusNoContent},
		{"over, with length", bytes.NewReader(make([]byte, 1001)), http.StatusRequestEntityTooLarge},
		{"over, chunked", &slowBody{data: make([]byte, 5000), chunk: 300}, http.StatusRequestEntityTooLarge},
		{"at the cap, chunked", &slowBody{data: make([]byte, 1000), chunk: 300}, http.StatusNoContent},
	}
	for i, tt := range tests {
		path := fmt.Sprintf("/live/job1/seg_%d.ts", i)
		if got := f.do(http.MethodPut, path, tt.body, "Authorization", "Bearer T1").StatusCode; got != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, got, tt.want)
		}
		if _, ok := f.stored(path[len("/live/"):]); ok != (tt.want == http.StatusNoContent) {
			t.Errorf("%s: stored = %v", tt.name, ok)
		}
	}
	if left := f.hiddenFiles(); len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

// TestInterruptedUpload: a writer that vanishes mid-body leaves neither the
// file nor a temporary behind, and the previous version stays served.
func TestInterruptedUpload(t *testing.T) {
	t.Parallel()
	authz := newTokens("job1", "T1")
	s, err := New(Config{Root: t.TempDir(), Authorizer: authz, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	handled := make(chan int, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, r)
		handled <- rec.Code
	}))
	t.Cleanup(ts.Close)

	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(conn, "PUT /live/job1/master.mpd HTTP/1.1\r\nHost: o\r\nAuthorization: Bearer T1\r\n"+
		"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
	conn.Close()
	if code := <-handled; code != http.StatusBadRequest {
		t.Errorf("status %d, want 400", code)
	}
	if _, err := os.Stat(filepath.Join(s.root.Name(), "job1", "master.mpd")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("partial upload stored: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(s.root.Name(), "job1"))
	if len(entries) != 0 {
		t.Errorf("leftovers: %v", entries)
	}
}

// TestPersistentConnection: like ffmpeg's -http_persistent 1, consecutive
// uploads (chunked or not, accepted or refused) share one connection.
func TestPersistentConnection(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	var conns int
	var mu sync.Mutex
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			if !info.Reused {
				mu.Lock()
				conns++
				mu.Unlock()
			}
		},
	})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	t.Cleanup(client.CloseIdleConnections)
	steps := []struct {
		method, auth string
		body         io.Reader
		want         int
	}{
		{http.MethodPut, "Bearer T1", &slowBody{data: make([]byte, 100<<10), chunk: 4 << 10}, http.StatusNoContent},
		{http.MethodPut, "Bearer T1", bytes.NewReader([]byte("#EXTM3U\n")), http.StatusNoContent},
		{http.MethodPut, "Bearer stale", &slowBody{data: make([]byte, 10<<10), chunk: 1 << 10}, http.StatusForbidden},
		{http.MethodDelete, "Bearer T1", nil, http.StatusNoContent},
		{http.MethodGet, "", nil, http.StatusNotFound},
	}
	for i, st := range steps {
		req, err := http.NewRequestWithContext(ctx, st.method, f.http.URL+"/live/job1/seg.m4s", st.body)
		if err != nil {
			t.Fatal(err)
		}
		if st.auth != "" {
			req.Header.Set("Authorization", st.auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != st.want {
			t.Errorf("step %d %s: status %d, want %d", i, st.method, resp.StatusCode, st.want)
		}
	}
	if conns != 1 {
		t.Errorf("%d connections for %d requests, want 1", conns, len(steps))
	}
}

func TestStats(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	content := bytes.Repeat([]byte("z"), 12345)
	f.put("/live/job1/v/seg_1.m4s", content)
	f.get("/live/job1/v/seg_1.m4s")
	f.get("/live/job1/v/seg_1.m4s", "Range", "bytes=0-9")
	f.do(http.MethodHead, "/live/job1/v/seg_1.m4s", nil)
	f.get("/healthz")
	want := Stats{BytesIn: 12345, BytesOut: 12345 + 10, Requests: 5}
	if got := f.srv.Stats(); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

func TestHealthzAndMethods(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	resp, body := f.get("/healthz")
	if resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Errorf("healthz: %d %q", resp.StatusCode, body)
	}
	tests := []struct{ method, path string }{
		{http.MethodPatch, "/live/job1/a.ts"},
		{http.MethodPut, "/live/job1"},
		{http.MethodPost, "/healthz"},
	}
	for _, tt := range tests {
		resp := f.do(tt.method, tt.path, strings.NewReader("x"), "Authorization", "Bearer T1")
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") == "" {
			t.Errorf("%s %s: status %d Allow %q", tt.method, tt.path, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
}

// TestFencing: once the scheduler rotates a job's token, the old one is
// refused on the next write (cache disabled here; at most 1 s otherwise).
func TestFencing(t *testing.T) {
	t.Parallel()
	authz := newTokens("job1", "gen1")
	f := newFixture(t, Config{Authorizer: authz, AuthCacheTTL: -1})
	write := func(token string) int {
		return f.do(http.MethodPut, "/live/job1/master.mpd", strings.NewReader(token), "Authorization", "Bearer "+token).StatusCode
	}
	if got := write("gen1"); got != http.StatusNoContent {
		t.Fatalf("gen1 before rotation: %d", got)
	}
	authz.rotate("job1", "gen2")
	if got := write("gen1"); got != http.StatusForbidden {
		t.Errorf("stale gen1 after rotation: %d, want 403", got)
	}
	if got := write("gen2"); got != http.StatusNoContent {
		t.Errorf("gen2: %d", got)
	}
	if b, _ := f.stored("job1/master.mpd"); string(b) != "gen2" {
		t.Errorf("stored %q, want gen2", b)
	}
}

func TestAuthCache(t *testing.T) {
	t.Parallel()
	authz := newTokens("job1", "T1")
	c := newAuthCache(authz, 5*time.Second, 0) // clamped to 1 s
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	ctx := context.Background()
	steps := []struct {
		advance   time.Duration
		token     string
		wantErr   bool
		wantCalls int64
	}{
		{0, "T1", false, 1},
		{500 * time.Millisecond, "T1", false, 1}, // cached
		{0, "bad", true, 2},
		{0, "bad", true, 2}, // refusal cached too
		{600 * time.Millisecond, "T1", false, 3},
		{0, "T1", false, 3},
		{time.Second, "T1", false, 4}, // expired
	}
	for i, st := range steps {
		now = now.Add(st.advance)
		err := c.authorize(ctx, "job1", st.token)
		if (err != nil) != st.wantErr || authz.calls.Load() != st.wantCalls {
			t.Errorf("step %d: err %v calls %d, want err=%v calls %d", i, err, authz.calls.Load(), st.wantErr, st.wantCalls)
		}
	}
}

func TestAuthorizerUnavailable(t *testing.T) {
	t.Parallel()
	var calls int
	var mu sync.Mutex
	authz := AuthorizerFunc(func(ctx context.Context, jobID, token string) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return fmt.Errorf("redis down: %w", ErrAuthUnavailable)
	})
	f := newFixture(t, Config{Authorizer: authz})
	for range 2 {
		resp := f.do(http.MethodPut, "/live/job1/a.ts", strings.NewReader("x"), "Authorization", "Bearer T1")
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("status %d, want 503", resp.StatusCode)
		}
	}
	if calls != 2 {
		t.Errorf("authorizer called %d times, want 2 (unavailable is never cached)", calls)
	}
}

// TestFailStatic: while the Authorizer cannot answer, a token it allowed
// within FailStatic is still allowed; an unknown one, or one allowed
// longer ago, gets 503 as before.
func TestFailStatic(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	authz := AuthorizerFunc(func(_ context.Context, jobID, token string) error {
		switch {
		case down.Load():
			return fmt.Errorf("redis down: %w", ErrAuthUnavailable)
		case token == "T1":
			return nil
		}
		return errors.New("not this job's token")
	})
	c := newAuthCache(authz, -1, time.Minute)
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	ctx := context.Background()
	if err := c.authorize(ctx, "job1", "T1"); err != nil {
		t.Fatal(err)
	}
	down.Store(true)
	now = now.Add(59 * time.Second)
	if err := c.authorize(ctx, "job1", "T1"); err != nil {
		t.Errorf("current token 59 s into an outage: %v, want allowed", err)
	}
	if err := c.authorize(ctx, "job1", "T2"); !unavailable(err) {
		t.Errorf("a token never allowed, during the outage: %v, want unavailable (503)", err)
	}
	if err := c.authorize(ctx, "job2", "T1"); !unavailable(err) {
		t.Errorf("the token for another job: %v, want unavailable (503)", err)
	}
	now = now.Add(2 * time.Second)
	if err := c.authorize(ctx, "job1", "T1"); !unavailable(err) {
		t.Errorf("61 s after it was last allowed: %v, want unavailable (503)", err)
	}
}
