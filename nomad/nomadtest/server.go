// Package nomadtest is a small Nomad stand-in for tests: an HTTP server on
// 127.0.0.1 speaking the part of Nomad's API that package nomad uses, with the
// JSON of github.com/hashicorp/nomad/api, that really runs each task's command
// as a local process (raw_exec semantics). It owns only its own state and the
// processes it starts; it is a test tool, not a product.
//
// What it models, after Nomad's documented behaviour and Nomad v2.0.5 as
// observed (see each function's comment): job registration creates an
// evaluation that is processed asynchronously; placement honours node
// status, eligibility, node pool, datacenters, constraints, the task driver
// and CPU/memory; an evaluation that cannot place writes FailedTGAllocs and a
// blocked evaluation; tasks get NOMAD_* variables and a dynamic port; the
// restart policy restarts a failed task in place, then fails the allocation;
// exit 0 of a batch task completes it; deregistration stops allocations and
// purge removes the job. A node's agent can die (KillAgent, KillMachine) and
// come back (RestartAgent) with Nomad's slow timeline in between: missed
// heartbeat, disconnected node, unknown allocations, lost_after, lost
// allocations that Nomad wants replaced, node down (agent.go). It does not
// reschedule failed allocations (the jobs it serves have reschedule off) and
// refuses disconnect blocks it does not model (replace = true,
// stop_on_client_after).
package nomadtest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

// Config tunes a Server. The zero value is usable.
type Config struct {
	// Dir holds allocation directories; a temporary directory when empty.
	Dir string
	// HeartbeatInterval is how often an idle event stream sends `{}`.
	HeartbeatInterval time.Duration
	// MinPort and MaxPort bound dynamic ports (Nomad's 20000–32000 by default).
	MinPort, MaxPort int
	// NoEventStream makes /v1/event/stream answer 404, as an agent with the
	// event stream disabled does.
	NoEventStream bool

	// HeartbeatTTL is how long the servers wait for a dead agent's next
	// heartbeat before they mark its node, and then again between later
	// checks while it stays away (nomad/heartbeat.go: min_heartbeat_ttl,
	// 10s, plus a random stagger plus heartbeat_grace). 10s by default:
	// FACTS.md §A saw 10.7 s; 3 to 16 s were seen on v2.0.5.
	HeartbeatTTL time.Duration
	// ClientSyncDelay is how long a restarted agent takes to report its
	// allocations (and a disconnected node to turn ready again). 1s by
	// default, as observed on v2.0.5.
	ClientSyncDelay time.Duration
	// ClientStopDelay is how much longer it takes to kill the tasks of the
	// allocations the servers stopped while it was away. 2s by default
	// (v2.0.5 took 2 to 8 s; FACTS.md §A and §B).
	ClientStopDelay time.Duration
}

// Server is a running Nomad stand-in. Its URL goes into api.Config.Address.
type Server struct {
	URL string

	cfg  Config
	http *httptest.Server

	mu       sync.Mutex
	index    uint64
	changed  chan struct{} // closed and replaced whenever index moves
	closing  chan struct{}
	closed   bool
	nodes    map[string]*api.Node
	nodeEnv  map[string]map[string]string // node ID → its agent's environment (NodeSpec.Env)
	agents   map[string]*agent            // node ID → its client agent
	jobs     map[string]*jobState
	evals    map[string]*api.Evaluation
	allocs   map[string]*allocState
	frames   []frame
	streams  map[int]chan struct{} // open event streams, closed to drop them
	streamID int
	pausedEv bool
	blocked  int // blocking queries waiting now
	runners  sync.WaitGroup
}

type jobState struct {
	job    *api.Job
	evals  []string
	allocs []string
}

// New starts a Server that is closed when the test ends.
func New(tb testing.TB) *Server {
	tb.Helper()
	s, err := Start(Config{Dir: tb.TempDir()})
	if err != nil {
		tb.Fatalf("start nomadtest: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Start starts a Server with cfg; Close stops it and every process it runs.
func Start(cfg Config) (*Server, error) {
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = 10 * time.Second
	}
	if cfg.MinPort == 0 {
		cfg.MinPort, cfg.MaxPort = 20000, 32000
	}
	cfg.HeartbeatTTL = cmp.Or(cfg.HeartbeatTTL, 10*time.Second)
	cfg.ClientSyncDelay = cmp.Or(cfg.ClientSyncDelay, time.Second)
	cfg.ClientStopDelay = cmp.Or(cfg.ClientStopDelay, 2*time.Second)
	if cfg.Dir == "" {
		return nil, fmt.Errorf("nomadtest: Config.Dir is required")
	}
	s := &Server{
		cfg:     cfg,
		index:   1,
		changed: make(chan struct{}),
		closing: make(chan struct{}),
		nodes:   map[string]*api.Node{}, nodeEnv: map[string]map[string]string{},
		agents:  map[string]*agent{},
		jobs:    map[string]*jobState{},
		evals:   map[string]*api.Evaluation{},
		allocs:  map[string]*allocState{},
		streams: map[int]chan struct{}{},
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("nomadtest listen: %w", err)
	}
	s.http = httptest.NewUnstartedServer(s.routes())
	s.http.Listener.Close()
	s.http.Listener = l
	s.http.Start()
	s.URL = s.http.URL
	return s, nil
}

// Client returns a nomad/api client of this server.
func (s *Server) Client() *api.Client {
	c, err := api.NewClient(&api.Config{Address: s.URL})
	if err != nil {
		panic(fmt.Sprintf("nomadtest client: %v", err)) // only on a malformed address
	}
	return c
}

// Close kills every task process, ends open streams and stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.closing)
	for _, a := range s.allocs {
		a.kill(true)
	}
	s.mu.Unlock()
	s.runners.Wait()
	s.http.CloseClientConnections()
	s.http.Close()
}

// after runs f under s.mu once d has passed, unless the server closed first.
func (s *Server) after(d time.Duration, f func()) {
	time.AfterFunc(d, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.closed {
			f()
		}
	})
}

// bump advances the state index and wakes blocking queries; s.mu is held.
func (s *Server) bump() uint64 {
	s.index++
	close(s.changed)
	s.changed = make(chan struct{})
	return s.index
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /v1/jobs", s.registerJob)
	mux.HandleFunc("POST /v1/jobs", s.registerJob)
	mux.HandleFunc("GET /v1/jobs", s.listJobs)
	mux.HandleFunc("GET /v1/job/{id}", s.getJob)
	mux.HandleFunc("DELETE /v1/job/{id}", s.deregisterJob)
	mux.HandleFunc("GET /v1/job/{id}/allocations", s.jobAllocations)
	mux.HandleFunc("GET /v1/job/{id}/evaluations", s.jobEvaluations)
	mux.HandleFunc("GET /v1/evaluation/{id}", s.getEvaluation)
	mux.HandleFunc("GET /v1/allocations", s.listAllocations)
	mux.HandleFunc("GET /v1/allocation/{id}", s.getAllocation)
	mux.HandleFunc("GET /v1/nodes", s.listNodes)
	mux.HandleFunc("GET /v1/node/{id}", s.getNode)
	mux.HandleFunc("GET /v1/event/stream", s.eventStream)
	return mux
}

// query runs read under s.mu as a blocking query: with ?index=N it waits
// until the state index passes N or ?wait= (default 5m, as Nomad) elapses.
func (s *Server) query(w http.ResponseWriter, r *http.Request, read func() (any, error)) {
	minIndex, _ := strconv.ParseUint(r.URL.Query().Get("index"), 10, 64)
	wait := 5 * time.Minute
	if v := r.URL.Query().Get("wait"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			wait = d
		}
	}
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	s.mu.Lock()
	for minIndex > 0 && s.index <= minIndex {
		ch := s.changed
		s.blocked++
		s.mu.Unlock()
		select {
		case <-ch:
		case <-timeout.C:
			minIndex = 0
		case <-r.Context().Done():
			s.unblocked()
			return
		case <-s.closing:
			http.Error(w, "server closing", http.StatusServiceUnavailable)
			s.unblocked()
			return
		}
		s.mu.Lock()
		s.blocked--
	}
	// Encode under the lock: the values read are live state.
	out, err := read()
	var body []byte
	if err == nil {
		body, err = json.Marshal(out)
	}
	index := s.index
	s.mu.Unlock()
	if err != nil {
		writeError(w, err)
		return
	}
	writeBody(w, index, body)
}

type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func notFound(what string) error { return &httpError{http.StatusNotFound, what + " not found"} }

func badRequest(format string, a ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, a...)}
}

func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	if he, ok := err.(*httpError); ok {
		code = he.code
	}
	http.Error(w, err.Error(), code)
}

func writeJSON(w http.ResponseWriter, index uint64, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeBody(w, index, body)
}

func writeBody(w http.ResponseWriter, index uint64, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Nomad-Index", strconv.FormatUint(index, 10))
	h.Set("X-Nomad-KnownLeader", "true")
	h.Set("X-Nomad-LastContact", "0")
	w.Write(body)
}

// clone deep-copies an api value through JSON, the form it travels in.
func clone[T any](v *T) *T {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("nomadtest clone: %v", err))
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		panic(fmt.Sprintf("nomadtest clone: %v", err))
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func boolParam(r *http.Request, name string) bool {
	v, _ := strconv.ParseBool(r.URL.Query().Get(name))
	return v
}

func hasPrefix(r *http.Request, id string) bool {
	return strings.HasPrefix(id, r.URL.Query().Get("prefix"))
}

func (s *Server) unblocked() {
	s.mu.Lock()
	s.blocked--
	s.mu.Unlock()
}

// BlockingQueries is the number of blocking queries waiting now (tests use
// it to know a watcher is in place).
func (s *Server) BlockingQueries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blocked
}
