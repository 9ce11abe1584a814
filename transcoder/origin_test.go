package transcoder

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/origin"
)

// testOrigin is the real origin (package origin) on 127.0.0.1 with the
// job's upload token, files under dir/<job id>/. It records every write so
// tests can see what reached it and when.
type testOrigin struct {
	dir   string
	token string
	srv   *httptest.Server

	keepAll atomic.Bool // answer DELETEs without deleting: every segment stays to be checked
	// broken answers every write 500, as the origin does when the job's
	// folder cannot be written (EPERM, EROFS: chattr +i, a read-only
	// mount), which a test running as root cannot cause portably.
	broken atomic.Bool

	mu       sync.Mutex
	puts     []put
	denied   int
	overwrit []string // media segments written twice
}

type put struct {
	name string
	at   time.Time
}

func newTestOrigin(t testing.TB, jobID string) *testOrigin {
	t.Helper()
	o := &testOrigin{dir: t.TempDir(), token: "tok-" + jobID}
	h, err := origin.New(origin.Config{Root: o.dir, Authorizer: origin.AuthorizerFunc(
		func(_ context.Context, job, token string) error {
			if job != jobID || token != o.token {
				return errors.New("not this job's upload token")
			}
			return nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && o.broken.Load() {
			http.Error(w, "store failed", http.StatusInternalServerError)
			return
		}
		if r.Method == http.MethodDelete && o.keepAll.Load() {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		o.record(r, rec.status)
	}))
	t.Cleanup(o.srv.Close)
	return o
}

// URL is the job's base URL, as the transcoder gets it.
func (o *testOrigin) URL(jobID string) string { return o.srv.URL + "/live/" + jobID + "/" }

// Path is where a published file of the job lands on disk.
func (o *testOrigin) Path(jobID, name string) string { return filepath.Join(o.dir, jobID, name) }

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

// Unwrap lets the origin flush a segment it streams to a reader.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (o *testOrigin) record(r *http.Request, status int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		o.denied++
	}
	if r.Method != http.MethodPut || status >= 300 {
		return
	}
	name := path.Base(r.URL.Path)
	if isMediaSegment(name) {
		for _, p := range o.puts {
			if p.name == name {
				o.overwrit = append(o.overwrit, name)
			}
		}
	}
	o.puts = append(o.puts, put{name: name, at: time.Now()})
}

func isMediaSegment(name string) bool {
	return strings.HasSuffix(name, ".ts") || strings.HasSuffix(name, ".m4s")
}

func (o *testOrigin) snapshot() (puts []put, denied int, overwritten []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]put(nil), o.puts...), o.denied, append([]string(nil), o.overwrit...)
}
