package origin

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// viewersMap is a test Viewers: the jobs that need a token, and token →
// the job it is valid for.
type viewersMap struct {
	signed map[string]bool
	tokens map[string]string
	err    error
}

func (v viewersMap) TokenRequired(_ context.Context, jobID string) (bool, error) {
	return v.signed[jobID], v.err
}

func (v viewersMap) ValidToken(_ context.Context, token, jobID string) bool {
	return token != "" && v.tokens[token] == jobID
}

// TestViewers checks the read guard: a job that needs a token is not found
// under /live/ and served under /play/ only with its own token; a public
// job is served both ways; /play/ takes no writes; a manifest served under
// /play/ carries the viewer's token in place of the marker, and under
// /live/ keeps the marker.
func TestViewers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{Viewers: viewersMap{
		signed: map[string]bool{"job1": true},
		tokens: map[string]string{"tok1": "job1", "tok2": "job2"},
	}})
	manifest := "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-KEY:METHOD=AES-128,URI=\"http://api/drm/key/job1?token=" + ViewerTokenMarker + "\"\n#EXTINF:2,\nseg1.ts\n"
	f.put("/live/job1/v.m3u8", []byte(manifest))
	f.put("/live/job1/seg1.ts", []byte("segment"))
	resp := f.do(http.MethodPut, "/live/job2/v.m3u8", strings.NewReader(manifest), "Authorization", "Bearer T2")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT job2: %d", resp.StatusCode)
	}
	tests := []struct {
		name, method, path string
		status             int
		body               string
	}{
		{"signed job under /live/", "GET", "/live/job1/seg1.ts", 404, ""},
		{"signed job's manifest under /live/", "GET", "/live/job1/v.m3u8", 404, ""},
		{"no such file, no such job", "GET", "/live/job9/seg1.ts", 404, ""},
		{"signed job with its token", "GET", "/play/tok1/job1/seg1.ts", 200, "segment"},
		{"manifest with its token", "GET", "/play/tok1/job1/v.m3u8", 200, strings.ReplaceAll(manifest, ViewerTokenMarker, "tok1")},
		{"HEAD with its token", "HEAD", "/play/tok1/job1/seg1.ts", 200, ""},
		{"another job's token", "GET", "/play/tok2/job1/seg1.ts", 403, ""},
		{"no token", "GET", "/play//job1/seg1.ts", 403, ""},
		{"wrong token", "GET", "/play/tok9/job1/seg1.ts", 403, ""},
		{"wrong token, unknown job", "GET", "/play/tok9/job9/seg1.ts", 403, ""},
		{"write under /play/", "PUT", "/play/tok1/job1/seg1.ts", 405, ""},
		{"delete under /play/", "DELETE", "/play/tok1/job1/seg1.ts", 405, ""},
		{"public job under /live/ keeps the marker", "GET", "/live/job2/v.m3u8", 200, manifest},
		{"public job with a token", "GET", "/play/tok2/job2/v.m3u8", 200, strings.ReplaceAll(manifest, ViewerTokenMarker, "tok2")},
		{"bad path with a token", "GET", "/play/tok1/job1/.hidden", 400, ""},
	}
	for _, tt := range tests {
		resp, body := f.read(tt.method, tt.path)
		if resp.StatusCode != tt.status || tt.body != "" && string(body) != tt.body {
			t.Errorf("%s: %s %s: %d %q, want %d %q", tt.name, tt.method, tt.path, resp.StatusCode, body, tt.status, tt.body)
		}
	}
	if _, ok := f.stored("job1/seg1.ts"); !ok {
		t.Error("a refused DELETE under /play/ removed the segment")
	}
}

// TestViewersUnavailable checks that a read whose policy cannot be looked
// up is refused with 503, not served.
func TestViewersUnavailable(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{Viewers: viewersMap{err: errors.New("redis down")}})
	f.put("/live/job1/seg1.ts", []byte("segment"))
	if resp, _ := f.get("/live/job1/seg1.ts"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET with the policy unavailable: %d, want 503", resp.StatusCode)
	}
}
