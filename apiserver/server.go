// Package apiserver is the HTTP API of ezlive: it validates live jobs, writes
// them to the store and sends commands to the queue. It owns routing, the
// wire's error format and the HTTP server settings; it never talks to Nomad,
// a driver or a transcoder, and keeps no state of its own (the event hub
// holds only its read position in job_events, while streams are open).
package apiserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/julienschmidt/httprouter"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/metrics"
	"github.com/ezlivestreaming/ezlive/queue"
	"github.com/ezlivestreaming/ezlive/store"
)

// JobStore is what the API needs of the job store (store.Store).
type JobStore interface {
	CreateJobWithin(ctx context.Context, job *jobspec.LiveJob, a store.Admission) error
	QueueRoom(ctx context.Context, max int) error
	Job(ctx context.Context, id string) (*jobspec.LiveJob, error)
	UpdateJob(ctx context.Context, id string, fn func(*jobspec.LiveJob) error) (*jobspec.LiveJob, error)
	DeleteJob(ctx context.Context, id string) error
	ListJobs(ctx context.Context, opt store.ListOptions) ([]*jobspec.LiveJob, string, error)
	// JobJSON and ListJobsJSON are Job and ListJobs as the JSON served.
	JobJSON(ctx context.Context, id string) ([]byte, error)
	ListJobsJSON(ctx context.Context, opt store.ListOptions) ([]byte, string, error)
	Ping(ctx context.Context) error
}

// Sender is what the API needs of the command queue (queue.Queue).
type Sender interface {
	Send(ctx context.Context, c queue.Command) error
	Ping(ctx context.Context) error
}

// FeedController starts and stops the demo page's test pattern feed into a
// job's ingest (package testfeed).
type FeedController interface {
	Start(ctx context.Context, job *jobspec.LiveJob) error
	Stop(jobID string) error
	Running(jobID string) bool
}

// EventSource is what the event routes need of the job_events stream
// (store.Store).
type EventSource interface {
	LatestEventID(ctx context.Context) (string, error)
	JobEvents(ctx context.Context, after string, count int64, block time.Duration) ([]store.JobEvent, error)
}

var (
	_ JobStore    = (*store.Store)(nil)
	_ Sender      = (queue.Queue)(nil)
	_ EventSource = (*store.Store)(nil)
)

// Config is what a Server is made of.
type Config struct {
	Store JobStore
	Queue Sender
	// PlaybackBaseURL is the origin's public base URL, e.g.
	// http://127.0.0.1:1081; playback URLs are <base>/live/<id>/<manifest>,
	// a viewer token's <base>/play/<token>/<id>/<manifest>.
	PlaybackBaseURL string
	// Token, when set, is the bearer token every job route requires.
	Token  string
	Logger *slog.Logger
	// Web, when set, serves the demo page: GET and HEAD requests that match
	// no API route go to it (no token needed).
	Web http.Handler
	// IngestGateway, when set, is the base of every job's stable ingest URL
	// (rtmp://<gateway host>/live): RtmpIngestUrl is <base>/<stream key>.
	IngestGateway string
	// IngestGatewaySRT, when set, is the gateway's SRT address
	// (srt://host:port); SrtIngestUrl is <base>?streamid=<stream key>.
	IngestGatewaySRT string
	// Feed, when set, adds /jobs/:id/feed (the demo's "Live feed" button).
	Feed FeedController
	// Events serves /events and /jobs/:id/events; when nil, Store is used
	// if it has the job_events stream (store.Store does).
	Events EventSource
	// Metrics is the registry GET /metrics serves; the API adds its request
	// counters to it. When nil the API keeps a registry of its own.
	Metrics *prometheus.Registry
	// DRM, when set, adds the ClearKey license and HLS key routes (drm.go).
	DRM DRMLicense
	// MaxQueued, when set, refuses new and resumed jobs (429) while that
	// many jobs wait for capacity in queued_jobs.
	MaxQueued int
	// ClientQuota, when set, refuses a client's new jobs (429) while it has
	// that many jobs not yet deleted (limits.go says who a client is).
	ClientQuota int
	// Playback, when set, adds POST /jobs/:id/playback_tokens: viewer
	// tokens for signed playback and DRM keys (playback.go).
	Playback PlaybackTokens
	// Recordings, when set, adds the recording and clip routes
	// (recordings.go).
	Recordings RecordingStore
}

// MaxBodyBytes bounds a request body; a larger one gets 413.
const MaxBodyBytes = 1 << 20

// Server is the API. It is safe for concurrent use.
type Server struct {
	cfg            Config
	log            *slog.Logger
	handler        http.Handler
	events         EventSource // nil: no event routes
	hub            *eventHub   // the one reader of events that streams follow
	httpm          *httpMetrics
	metricsHandler http.Handler
	health         *Health
}

// New checks cfg and builds the routes.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Queue == nil {
		return nil, errors.New("apiserver: Config.Store and Config.Queue are required")
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	s.health = NewHealth(map[string]func(context.Context) error{"redis": cfg.Store.Ping, "queue": cfg.Queue.Ping})
	if s.log == nil {
		s.log = slog.Default()
	}
	s.events = cfg.Events
	if es, ok := cfg.Store.(EventSource); ok && s.events == nil {
		s.events = es
	}
	if s.events != nil {
		s.hub = newEventHub(s.events, s.log)
	}
	reg := cfg.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	s.httpm, s.metricsHandler = newHTTPMetrics(reg), metrics.Handler(reg)
	s.handler = s.accessLog(cors(s.routes()))
	return s, nil
}

// Handler returns the API as an http.Handler.
func (s *Server) Handler() http.Handler { return s.handler }

// NewHTTPServer returns an http.Server for h with timeouts that keep slow or
// idle clients from holding connections. Event streams lift the read and
// write timeouts for themselves (see openStream), and end when the server
// shuts down, so that Shutdown does not wait for clients that never leave.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	shutdown := make(chan struct{})
	srv := &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		BaseContext: func(net.Listener) context.Context {
			return context.WithValue(context.Background(), shutdownKey{}, (<-chan struct{})(shutdown))
		},
	}
	srv.RegisterOnShutdown(sync.OnceFunc(func() { close(shutdown) }))
	return srv
}

// handlerFunc is a route's handler; a returned error is answered as a
// problem by serve, the one place errors become responses.
type handlerFunc func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error

func (s *Server) routes() *httprouter.Router {
	rt := httprouter.New()
	rt.RedirectFixedPath = false
	rt.GlobalOPTIONS = http.HandlerFunc(preflight)
	rt.NotFound = http.HandlerFunc(s.notFound)
	rt.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, problemOf(&httpError{http.StatusMethodNotAllowed,
			r.Method + " is not allowed here; allowed: " + w.Header().Get("Allow")}))
	})
	rt.PanicHandler = func(w http.ResponseWriter, r *http.Request, v any) {
		s.fail(w, r, fmt.Errorf("panic: %v", v))
	}

	rt.GET("/healthz", s.open(s.healthz))
	rt.HEAD("/healthz", s.open(s.healthz))
	rt.GET("/readyz", s.open(s.readyz))
	rt.HEAD("/readyz", s.open(s.readyz))
	rt.GET("/openapi.yaml", s.open(s.openAPI))
	rt.GET("/metrics", s.private(s.metrics)) // it names every active job

	rt.POST("/jobs", s.private(s.createJob))
	rt.GET("/jobs", s.private(s.listJobs))
	// httprouter cannot have /jobs/active beside /jobs/:id, so getJob
	// answers "active" itself.
	rt.GET("/jobs/:id", s.private(s.getJob))
	rt.PUT("/jobs/:id/stop", s.private(s.stopJob))
	rt.PUT("/jobs/:id/resume", s.private(s.resumeJob))
	rt.DELETE("/jobs/:id", s.private(s.deleteJob))
	rt.POST("/jobs/:id/stream_key", s.private(s.rotateStreamKey))
	rt.GET("/jobs/:id/thumbnail.jpg", s.private(s.thumbnail))
	if s.cfg.Playback != nil {
		rt.POST("/jobs/:id/playback_tokens", s.private(s.issuePlaybackToken))
	}
	if s.cfg.Recordings != nil {
		rt.GET("/jobs/:id/recordings", s.private(s.listRecordings))
		rt.DELETE("/jobs/:id/recordings/:run", s.private(s.deleteRecording))
		rt.POST("/jobs/:id/clips", s.private(s.createClip))
	}
	if s.cfg.Feed != nil {
		rt.GET("/jobs/:id/feed", s.private(s.feedStatus))
		rt.POST("/jobs/:id/feed", s.private(s.startFeed))
		rt.DELETE("/jobs/:id/feed", s.private(s.stopFeed))
	}
	if s.cfg.DRM != nil {
		rt.POST("/drm/clearkey/:id", s.open(s.clearKeyLicense))
		rt.GET("/drm/key/:id", s.open(s.hlsKey))
	}
	if s.events != nil {
		rt.GET("/events", s.privateStream(s.allEvents))
		rt.GET("/jobs/:id/events", s.privateStream(s.jobEvents))
	}
	return rt
}

// open serves h without asking for the token.
func (s *Server) open(h handlerFunc) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		s.serve(w, r, ps, h)
	}
}

// private serves h to requests that carry the token, when one is set.
func (s *Server) private(h handlerFunc) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		if !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ezlive"`)
			s.fail(w, r, &httpError{http.StatusUnauthorized, "a valid bearer token is required"})
			return
		}
		s.serve(w, r, ps, h)
	}
}

// privateStream is private for the event routes, which also take the token
// as ?access_token=: a browser's EventSource cannot set headers.
func (s *Server) privateStream(h handlerFunc) httprouter.Handle {
	private := s.private(h)
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		if tok := r.URL.Query().Get("access_token"); tok != "" && r.Header.Get("Authorization") == "" {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		private(w, r, ps)
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, ps httprouter.Params, h handlerFunc) {
	if id := ps.ByName("id"); id != "" {
		noteJobID(r, id)
	}
	noteRoute(r, routeOf(r.URL.Path, ps))
	// A declared length over the limit is refused before any of the body is
	// read (a client waiting on "Expect: 100-continue" never sends it); the
	// reader still bounds chunked bodies, whose length is not declared.
	if r.ContentLength > MaxBodyBytes {
		s.fail(w, r, &http.MaxBytesError{Limit: MaxBodyBytes})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if err := h(w, r, ps); err != nil {
		s.fail(w, r, err)
	}
}

// fail answers err as a problem; the access log keeps the cause of a 5xx,
// which the client is not shown in full.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	p := problemOf(err)
	if p.Status >= 500 {
		noteError(r, err)
	}
	writeProblem(w, r, p)
}

// notFound serves the demo page for GET and HEAD outside the API's paths,
// and a problem for everything else.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Web != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) && !isAPIPath(r.URL.Path) {
		s.cfg.Web.ServeHTTP(w, r)
		return
	}
	writeProblem(w, r, problemOf(&httpError{http.StatusNotFound, "no route for " + r.Method + " " + r.URL.Path}))
}

func isAPIPath(p string) bool {
	return p == "/jobs" || p == "/events" || len(p) > 6 && p[:6] == "/jobs/"
}
