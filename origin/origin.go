package origin

import (
	"context"
	"errors"
	"fmt"
	"golang.org/x/sync/singleflight"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// DefaultMaxFileBytes caps one uploaded file when Config.MaxFileBytes is 0.
// A 30 s segment of a 20 Mbit/s rendition is 75 MB; our ladders stay far below.
const DefaultMaxFileBytes = 64 << 20

// DefaultFailStatic is how long the origin keeps taking a job's current
// upload token while the store cannot answer.
const DefaultFailStatic = 5 * time.Minute

// defaultAuthCacheTTL bounds how long a stale transcoder can keep writing
// after the scheduler rotated its token (fencing).
const defaultAuthCacheTTL = time.Second

// Config configures a Server. Root and Authorizer are required.
type Config struct {
	Root       string     // files are stored (or, with Storage, spooled) under <Root>/<job id>/...
	Authorizer Authorizer // decides every write; required
	Logger     *slog.Logger

	// Storage keeps the complete files (storage.go); nil: the filesystem
	// under Root. JobStorage, when set, picks another for some jobs.
	Storage    Storage
	JobStorage JobStorage

	// MaxFileBytes caps the body of one PUT/POST; 0 means DefaultMaxFileBytes.
	MaxFileBytes int64
	// AuthCacheTTL is how long an Authorizer answer is reused for the same
	// (job id, token); 0 means 1 s, negative disables caching. Values above
	// 1 s are clamped to 1 s so fencing stays prompt.
	AuthCacheTTL time.Duration
	// FailStatic is how long a token the Authorizer allowed stays allowed
	// while the Authorizer cannot answer (Redis down): 0 means
	// DefaultFailStatic, negative never (every write then gets 503).
	FailStatic time.Duration
	// Encrypter, when set, encrypts the uploads of DRM jobs before they
	// are stored (encrypt.go). Nil stores every upload as sent.
	Encrypter Encrypter
	// Viewers, when set, guards reads (viewers.go): a job that needs a
	// viewer token is served only under PlayPrefix. Nil: every read is
	// public and PlayPrefix is not served.
	Viewers Viewers
	// Recordings, when set, makes recorded jobs keep their segments and
	// indexes their manifests into recordings (record.go). Nil records nothing.
	Recordings Recordings

	// An upload that sends no byte for UploadIdleTimeout (0: 10 s), or
	// fewer than UploadMinRate bytes/s (0: 1024; negative: no minimum)
	// over a UploadRateWindow (0: 10 s), fails with 408 (pace.go).
	UploadIdleTimeout time.Duration
	UploadMinRate     int64
	UploadRateWindow  time.Duration
}

// Stats are the Server's counters since New, for metrics.
type Stats struct {
	BytesIn  int64 // body bytes received by PUT/POST (refused uploads not read are not counted)
	BytesOut int64 // body bytes sent by GET
	Requests int64 // every request, whatever its outcome
}

// Server is the origin's http.Handler. It is safe for concurrent use.
type Server struct {
	root      *os.Root // the spool: uploads in progress (and the files, without Config.Storage)
	storage   Storage
	log       *slog.Logger
	auth      *authCache
	uploads   uploads
	changes   changes
	maxBytes  int64
	encrypter Encrypter
	viewers   Viewers
	pace      uploadPace
	recorder  *recorder
	// storyboards makes one recording's storyboard once at a time.
	storyboards singleflight.Group

	jobStorages jobStorages

	bytesIn, bytesOut, requests atomic.Int64
}

var _ http.Handler = (*Server)(nil)

// New validates cfg, creates Root when missing and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Root == "" {
		return nil, errors.New("origin: Config.Root is required")
	}
	if cfg.Authorizer == nil {
		return nil, errors.New("origin: Config.Authorizer is required")
	}
	if cfg.MaxFileBytes < 0 {
		return nil, fmt.Errorf("origin: Config.MaxFileBytes %d is negative", cfg.MaxFileBytes)
	}
	if err := os.MkdirAll(cfg.Root, 0o755); err != nil {
		return nil, fmt.Errorf("origin: create root: %w", err)
	}
	root, err := os.OpenRoot(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("origin: open root: %w", err)
	}
	s := &Server{
		root:      root,
		log:       cfg.Logger,
		auth:      newAuthCache(cfg.Authorizer, cfg.AuthCacheTTL, failStatic(cfg.FailStatic)),
		maxBytes:  cfg.MaxFileBytes,
		encrypter: cfg.Encrypter,
		viewers:   cfg.Viewers,
		pace:      newUploadPace(cfg),
		storage:   cfg.Storage,
		recorder:  newRecorder(cfg.Recordings),
	}
	s.jobStorages.choose = cfg.JobStorage
	if s.storage == nil {
		s.storage = fsStorage{root}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.uploads.trace = s.log.Enabled(context.Background(), slog.LevelDebug)
	if s.maxBytes == 0 {
		s.maxBytes = DefaultMaxFileBytes
	}
	s.removeStaleTemps()
	return s, nil
}

// HTTPServer returns an http.Server serving s on addr with timeouts fit for
// ffmpeg and players. No fixed read or write deadline: a low-latency upload
// or a slow player's download lasts a whole segment; uploads are paced
// instead (pace.go). A header timeout sheds idle
// openers. The idle timeout outlasts the longest segment (30 s), because
// ffmpeg keeps one persistent connection idle between segments, and 5.1's
// dash muxer drops a segment (or, without -ignore_io_errors 1, exits) when
// it writes to a connection the server has closed.
func (s *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// Close releases the root directory handle. In-flight requests may fail.
func (s *Server) Close() error { return s.root.Close() }

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	return Stats{
		BytesIn:  s.bytesIn.Load(),
		BytesOut: s.bytesOut.Load(),
		Requests: s.requests.Load(),
	}
}

// ServeHTTP routes /healthz, /time (time.go), /live/<job id>[/<path>] and,
// with Viewers, /play/<token>/<job id>/<path> (viewers.go).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	setCORS(w.Header())
	if r.URL.Path == "/healthz" {
		s.serveHealth(w, r)
		return
	}
	if r.URL.Path == TimePath {
		s.serveTime(w, r)
		return
	}
	if rest, ok := strings.CutPrefix(r.URL.Path, PlayPrefix); ok && s.viewers != nil {
		s.servePlay(w, r, rest)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/live/")
	if !ok {
		notFound(w)
		return
	}
	jobID, file, hasFile := strings.Cut(rest, "/")
	if !validJobID(jobID) {
		badRequest(w, "invalid job id")
		return
	}
	if !hasFile {
		s.serveJob(w, r, jobID)
		return
	}
	if err := validFilePath(file); err != nil {
		badRequest(w, err.Error())
		return
	}
	s.serveFile(w, r, jobID, file)
}

// serveFile dispatches a request on one file of a job.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, jobID, file string) {
	name := jobID + "/" + file
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if s.publicRead(w, r, jobID) {
			s.get(w, r, name)
		}
	case http.MethodOptions:
		preflight(w, r)
	case http.MethodPut, http.MethodPost: // ffmpeg's -method may be either
		if s.authorizeUpload(w, r, jobID) {
			s.put(w, r, jobID, name)
		}
	case http.MethodDelete:
		if s.authorizeUpload(w, r, jobID) && !s.keepSegment(w, r, jobID, name) {
			s.delete(w, r, jobID, name)
		}
	default:
		w.Header().Set("Allow", "GET, HEAD, OPTIONS, PUT, POST, DELETE")
		httpError(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// serveJob handles /live/<job id> itself: no listings, CORS only. A job's
// outputs are removed by its Sweeper when the job is deleted, never over HTTP.
func (s *Server) serveJob(w http.ResponseWriter, r *http.Request, _ string) {
	switch r.Method {
	case http.MethodOptions:
		preflight(w, r)
	case http.MethodGet, http.MethodHead:
		notFound(w)
	default:
		w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		httpError(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		httpError(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write([]byte("ok\n"))
	}
}

// httpError answers with a short plain-text error that no cache keeps.
func httpError(w http.ResponseWriter, msg string, code int) {
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, msg, code)
}

func notFound(w http.ResponseWriter)               { httpError(w, "not found", http.StatusNotFound) }
func badRequest(w http.ResponseWriter, msg string) { httpError(w, msg, http.StatusBadRequest) }

func failStatic(d time.Duration) time.Duration {
	if d == 0 {
		return DefaultFailStatic
	}
	return d
}
