// Package apiserver is the HTTP API of ezlive: it validates live jobs, writes
// them to the store and sends commands to the queue. It owns routing, the
// wire's error format and the HTTP server settings; it never talks to Nomad,
// a driver or a transcoder, and keeps no state of its own.
package apiserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/queue"
	"github.com/ezlivestreaming/ezlive/store"
)

// JobStore is what the API needs of the job store (store.Store).
type JobStore interface {
	CreateJob(ctx context.Context, job *jobspec.LiveJob) error
	Job(ctx context.Context, id string) (*jobspec.LiveJob, error)
	UpdateJob(ctx context.Context, id string, fn func(*jobspec.LiveJob) error) (*jobspec.LiveJob, error)
	DeleteJob(ctx context.Context, id string) error
	ListJobs(ctx context.Context, opt store.ListOptions) ([]*jobspec.LiveJob, string, error)
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

var (
	_ JobStore = (*store.Store)(nil)
	_ Sender   = (queue.Queue)(nil)
)

// Config is what a Server is made of.
type Config struct {
	Store JobStore
	Queue Sender
	// PlaybackBaseURL is the origin's public base URL, e.g.
	// http://127.0.0.1:1081; playback URLs are <base>/live/<id>/<manifest>.
	PlaybackBaseURL string
	// Token, when set, is the bearer token every job route requires.
	Token  string
	Logger *slog.Logger
	// Web, when set, serves the demo page: GET and HEAD requests that match
	// no API route go to it (no token needed).
	Web http.Handler
	// Feed, when set, adds /jobs/:id/feed (the demo's "Live feed" button).
	Feed FeedController
}

// MaxBodyBytes bounds a request body; a larger one gets 413.
const MaxBodyBytes = 1 << 20

// Server is the API. It is safe for concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	handler http.Handler
}

// New checks cfg and builds the routes.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Queue == nil {
		return nil, errors.New("apiserver: Config.Store and Config.Queue are required")
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.handler = s.accessLog(cors(s.routes()))
	return s, nil
}

// Handler returns the API as an http.Handler.
func (s *Server) Handler() http.Handler { return s.handler }

// NewHTTPServer returns an http.Server for h with timeouts that keep slow or
// idle clients from holding connections.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
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

	rt.POST("/jobs", s.private(s.createJob))
	rt.GET("/jobs", s.private(s.listJobs))
	// httprouter cannot have /jobs/active beside /jobs/:id, so getJob
	// answers "active" itself.
	rt.GET("/jobs/:id", s.private(s.getJob))
	rt.PUT("/jobs/:id/stop", s.private(s.stopJob))
	rt.PUT("/jobs/:id/resume", s.private(s.resumeJob))
	rt.DELETE("/jobs/:id", s.private(s.deleteJob))
	if s.cfg.Feed != nil {
		rt.GET("/jobs/:id/feed", s.private(s.feedStatus))
		rt.POST("/jobs/:id/feed", s.private(s.startFeed))
		rt.DELETE("/jobs/:id/feed", s.private(s.stopFeed))
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

func (s *Server) serve(w http.ResponseWriter, r *http.Request, ps httprouter.Params, h handlerFunc) {
	if id := ps.ByName("id"); id != "" {
		noteJobID(r, id)
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
	return p == "/jobs" || len(p) > 6 && p[:6] == "/jobs/"
}
