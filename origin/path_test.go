package origin

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidFilePath(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("d/", maxDepth) + "seg.ts"
	tests := []struct {
		path string
		ok   bool
	}{
		{"master.m3u8", true},
		{"video365k/seg_00001.m4s", true},
		{"a/b/c/d/e/f/g/seg.ts", true},
		{"seg:1,v=2.ts", true},
		{"", false},
		{"..", false},
		{"../x", false},
		{"a/../../x", false},
		{"./a", false},
		{".hidden", false},
		{"a/.tmp.seg", false},
		{"/abs", false},
		{"a//b", false},
		{"a/", false},
		{`a\..\b`, false},
		{"a\x00b", false},
		{"a\nb", false},
		{"a\x7fb", false},
		{strings.Repeat("x", maxSegmentLen+1), false},
		{strings.Repeat("x/", maxPathLen/2) + "x", false},
		{deep, false},
	}
	for _, tt := range tests {
		err := validFilePath(tt.path)
		if (err == nil) != tt.ok {
			t.Errorf("validFilePath(%q) = %v, want ok=%v", tt.path, err, tt.ok)
		}
	}
}

func TestValidJobID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id string
		ok bool
	}{
		{"job1", true},
		{"A-b_9", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"..", false},
		{"a.b", false},
		{"a b", false},
		{"ä", false},
		{"job1\n", false},
	}
	for _, tt := range tests {
		if got := validJobID(tt.id); got != tt.ok {
			t.Errorf("validJobID(%q) = %v, want %v", tt.id, got, tt.ok)
		}
	}
}

// TestPathSafetyHTTP sends every request for real over loopback, raw, so no
// client library cleans the path first.
func TestPathSafetyHTTP(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	f := newFixture(t, Config{Root: filepath.Join(base, "root")})
	id64 := strings.Repeat("j", 64)
	f.srv.auth.authz = newTokens("job1", "T1", "job2", "T2", id64, "T1", "job_-1", "T1")
	tests := []struct {
		target string
		want   int
	}{
		{"/live/job1/video365k/seg_1.m4s", http.StatusNoContent},
		{"/live/job_-1/a.ts", http.StatusNoContent},
		{"/live/" + id64 + "/a.ts", http.StatusNoContent},
		{"/live/../escape.ts", http.StatusBadRequest},
		{"/live/job1/../job2/a.ts", http.StatusBadRequest},
		{"/live/job1/a/../../escape.ts", http.StatusBadRequest},
		{"/live/job1/%2e%2e/%2e%2e/escape.ts", http.StatusBadRequest},
		{"/live/job1/..%2f..%2fescape.ts", http.StatusBadRequest},
		{"/live/job1//etc/escape", http.StatusBadRequest},
		{"/live/job1/a%5c..%5c..%5cescape.ts", http.StatusBadRequest},
		{"/live/job1/a%00.ts", http.StatusBadRequest},
		{"/live/job1/.hidden", http.StatusBadRequest},
		{"/live/job1/./a.ts", http.StatusBadRequest},
		{"/live/job1/", http.StatusBadRequest},
		{"/live/j.b/a.ts", http.StatusBadRequest},
		{"/live/" + id64 + "j/a.ts", http.StatusBadRequest},
		{"/live//a.ts", http.StatusBadRequest},
		{"/other/job1/a.ts", http.StatusNotFound},
	}
	for _, tt := range tests {
		for _, method := range []string{http.MethodPut, http.MethodGet, http.MethodDelete} {
			if tt.want == http.StatusNoContent && method == http.MethodGet {
				continue // covered below
			}
			got := rawRequest(t, f.http.Listener.Addr().String(), method, tt.target)
			if got != tt.want {
				t.Errorf("%s %s: status %d, want %d", method, tt.target, got, tt.want)
			}
		}
	}
	entries, err := os.ReadDir(base)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "root" {
		t.Errorf("files appeared beside the root: %v", entries)
	}
	for _, name := range []string{"escape.ts", "job2/a.ts"} {
		if _, ok := f.stored(name); ok {
			t.Errorf("%s was written", name)
		}
	}
}

// rawRequest writes a request line verbatim and returns the status code.
func rawRequest(t *testing.T, addr, method, target string) int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := "x"
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: origin\r\nAuthorization: Bearer T1\r\n"+
		"Content-Length: %d\r\nConnection: close\r\n\r\n%s", method, target, len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestPathSafetyHandler covers encodings a raw request line cannot carry.
func TestPathSafetyHandler(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	for _, target := range []string{"/live/job1/a%0Ab.ts", "/live/job1/a%7Fb.ts"} {
		req := httptest.NewRequest(http.MethodPut, target, strings.NewReader("x"))
		req.Header.Set("Authorization", "Bearer T1")
		rec := httptest.NewRecorder()
		f.srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest {
			t.Errorf("PUT %s: status %d, want 400", target, rec.Code)
		}
	}
}

// FuzzValidFilePath: whatever passes stays inside the job folder and names
// nothing hidden.
func FuzzValidFilePath(f *testing.F) {
	for _, seed := range []string{"master.m3u8", "v/seg_1.m4s", "../x", "a/./b", "a\\b", ".x", "a//b", "%2e%2e"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if validFilePath(p) != nil {
			return
		}
		const job = "/root/job1"
		joined := filepath.Join(job, p)
		if !strings.HasPrefix(joined, job+"/") {
			t.Fatalf("%q escapes to %q", p, joined)
		}
		if filepath.Clean(joined) != job+"/"+p {
			t.Fatalf("%q is not already clean", p)
		}
		for seg := range strings.SplitSeq(p, "/") {
			if strings.HasPrefix(seg, ".") || strings.ContainsAny(seg, "\\\x00") {
				t.Fatalf("%q has segment %q", p, seg)
			}
		}
	})
}
