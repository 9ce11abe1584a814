package origin

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ezlivestreaming/ezlive/internal/fauxqstest"
)

// tokens is a test Authorizer: job id → the one token it accepts.
type tokens struct {
	mu    sync.Mutex
	byJob map[string]string
	calls atomic.Int64
}

// quietLog keeps expected refusals out of the test output.
var quietLog = slog.New(slog.DiscardHandler)

var errWrongToken = errors.New("wrong upload token")

func newTokens(pairs ...string) *tokens {
	t := &tokens{byJob: map[string]string{}}
	for i := 0; i+1 < len(pairs); i += 2 {
		t.byJob[pairs[i]] = pairs[i+1]
	}
	return t
}

func (t *tokens) AuthorizeUpload(_ context.Context, jobID, token string) error {
	t.calls.Add(1)
	t.mu.Lock()
	defer t.mu.Unlock()
	if want, ok := t.byJob[jobID]; ok && want == token {
		return nil
	}
	return errWrongToken
}

func (t *tokens) rotate(jobID, token string) {
	t.mu.Lock()
	t.byJob[jobID] = token
	t.mu.Unlock()
}

// fixture is one origin behind a loopback HTTP server.
type fixture struct {
	t    *testing.T
	srv  *Server
	http *httptest.Server
	root string
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	if cfg.Root == "" {
		cfg.Root = filepath.Join(t.TempDir(), "root")
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLog
	}
	if cfg.Authorizer == nil {
		cfg.Authorizer = newTokens("job1", "T1", "job2", "T2")
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(s) // binds 127.0.0.1
	t.Cleanup(func() {
		ts.Close()
		_ = s.Close()
	})
	return &fixture{t: t, srv: s, http: ts, root: cfg.Root}
}

// do sends one request; header pairs are name, value.
func (f *fixture) do(method, path string, body io.Reader, header ...string) *http.Response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.http.URL+path, body)
	if err != nil {
		f.t.Fatalf("new request: %v", err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := f.http.Client().Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	f.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// put uploads content with job1's token and requires success.
func (f *fixture) put(path string, content []byte) {
	f.t.Helper()
	resp := f.do(http.MethodPut, path, bytes.NewReader(content), "Authorization", "Bearer T1")
	if resp.StatusCode != http.StatusNoContent {
		f.t.Fatalf("PUT %s: status %d, want 204", path, resp.StatusCode)
	}
}

func (f *fixture) get(path string, header ...string) (*http.Response, []byte) {
	f.t.Helper()
	return f.read(http.MethodGet, path, header...)
}

// read sends a request without a body and reads the answer.
func (f *fixture) read(method, path string, header ...string) (*http.Response, []byte) {
	f.t.Helper()
	resp := f.do(method, path, nil, header...)
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatalf("read %s: %v", path, err)
	}
	return resp, body
}

// stored reads a stored file from the Storage; ok is false when it does
// not exist.
func (f *fixture) stored(rel string) ([]byte, bool) {
	f.t.Helper()
	b, err := f.srv.readStored(f.t.Context(), rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false
	}
	if err != nil {
		f.t.Fatalf("read %s: %v", rel, err)
	}
	return b, true
}

// folders lists the job folders of the Storage, sorted.
func (f *fixture) folders() []string {
	f.t.Helper()
	folders, err := f.srv.storage.Folders(f.t.Context())
	if err != nil {
		f.t.Fatal(err)
	}
	return sortedNames(folders, func(d Folder) string { return d.Name })
}

// list lists the files of the Storage under prefix, sorted.
func (f *fixture) list(prefix string) []string {
	f.t.Helper()
	files, err := f.srv.storage.List(f.t.Context(), prefix)
	if err != nil {
		f.t.Fatal(err)
	}
	return sortedNames(files, func(file StoredFile) string { return file.Name })
}

// sortedNames returns the name of each item, sorted.
func sortedNames[T any](items []T, name func(T) string) []string {
	var names []string
	for _, it := range items {
		names = append(names, name(it))
	}
	slices.Sort(names)
	return names
}

// eachBackend runs test on a fixture maker for each Storage: the
// filesystem, and S3 on fauxqs (one fauxqs process per test, stopped by it).
func eachBackend(t *testing.T, test func(t *testing.T, backend string, newF func(Config) *fixture)) {
	t.Parallel()
	for _, backend := range []string{"fs", "s3"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			test(t, backend, func(cfg Config) *fixture {
				if backend == "s3" {
					cfg.Storage = newTestS3(t)
				}
				return newFixture(t, cfg)
			})
		})
	}
}

// testBucket is the bucket newTestS3 makes; objects go under testPrefix.
const testBucket, testPrefix = "outputs", "outputs"

// newTestS3 starts fauxqs with testBucket and returns its Storage.
func newTestS3(t testing.TB) Storage {
	t.Helper()
	return NewS3Storage(testS3Client(t, fauxqstest.StartS3(t, testBucket)), testBucket, testPrefix)
}

func testS3Client(t testing.TB, endpoint string) *s3.Client {
	t.Helper()
	c, err := NewS3Client(t.Context(), S3ClientConfig{Region: fauxqstest.Region, Endpoint: endpoint,
		Credentials: credentials.NewStaticCredentialsProvider(fauxqstest.AccessKey, fauxqstest.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// hiddenFiles lists leftover temporary files anywhere under root.
func (f *fixture) hiddenFiles() []string {
	f.t.Helper()
	var found []string
	err := filepath.WalkDir(f.root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name()[0] == '.' && p != f.root {
			found = append(found, p)
		}
		return nil
	})
	if err != nil {
		f.t.Fatalf("walk root: %v", err)
	}
	return found
}
