package apiserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ezlivestreaming/ezlive/apiserver"
	"github.com/ezlivestreaming/ezlive/client"
	"github.com/ezlivestreaming/ezlive/internal/redistest"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/playback"
	"github.com/ezlivestreaming/ezlive/queue"
	"github.com/ezlivestreaming/ezlive/store"
)

const playbackBase = "http://origin.test:1081"

// env is one API server on its own real Redis, store and Redis Streams queue.
type env struct {
	t      *testing.T
	redis  *redistest.Server
	rdb    *redis.Client
	store  *store.Store
	queue  *queue.RedisStream
	server *apiserver.Server
	url    string
	client *client.Client
	signer *playback.Signer // issues the viewer tokens (Config.Playback)
}

// newEnv starts Redis and the API; opts may change the config (a failing
// Sender, a token, a feed) before the server is built.
func newEnv(t *testing.T, opts ...func(*apiserver.Config)) *env {
	t.Helper()
	e := &env{t: t, redis: redistest.Start(t)}
	// Few retries: the Redis-down test would otherwise wait out go-redis's
	// dial backoff on every request.
	e.rdb = redis.NewClient(&redis.Options{Addr: e.redis.Addr, DialerRetries: 1, MaxRetries: 1})
	t.Cleanup(func() { e.rdb.Close() })
	e.store = store.New(e.rdb)
	q, err := queue.NewRedisStream(e.rdb, queue.StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	e.queue = q
	if e.signer, err = playback.NewSigner(bytes.Repeat([]byte{5}, 32)); err != nil {
		t.Fatal(err)
	}
	cfg := apiserver.Config{
		Store:           e.store,
		Queue:           q,
		Playback:        e.signer,
		Recordings:      e.store,
		PlaybackBaseURL: playbackBase + "/",
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := apiserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	e.server, e.url = s, srv.URL
	e.client = client.New(srv.URL, cfg.Token)
	return e
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// sampleSpec is the original project's sample job.
func sampleSpec(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../jobspec/testdata/sample_live_job.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// answer is a raw HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) problem(t *testing.T) apiserver.Problem {
	t.Helper()
	if ct := a.header.Get("Content-Type"); ct != apiserver.ProblemContentType {
		t.Fatalf("status %d: Content-Type %q, want %q; body %s", a.status, ct, apiserver.ProblemContentType, a.body)
	}
	var p apiserver.Problem
	if err := json.Unmarshal(a.body, &p); err != nil {
		t.Fatalf("problem body %s: %v", a.body, err)
	}
	if p.Status != a.status || p.Title == "" || p.Type == "" {
		t.Fatalf("problem %+v does not match status %d", p, a.status)
	}
	return p
}

func (a answer) job(t *testing.T) *jobspec.LiveJob {
	t.Helper()
	var j jobspec.LiveJob
	if err := json.Unmarshal(a.body, &j); err != nil {
		t.Fatalf("job body %s: %v", a.body, err)
	}
	return &j
}

// noRedirects answers a redirect itself, so tests see the API's 307.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// do sends a raw request with the given headers ("Name: value").
func (e *env) do(method, path string, body []byte, headers ...string) answer {
	e.t.Helper()
	return e.doWith(noRedirects, method, path, body, headers...)
}

// doWith is do with client c.
func (e *env) doWith(c *http.Client, method, path string, body []byte, headers ...string) answer {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctxT(e.t), method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

// want fails the test unless a has the status.
func (a answer) want(t *testing.T, status int) answer {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d; body %s", a.status, status, a.body)
	}
	return a
}

// commands drains the queue and returns what was sent, in order.
func (e *env) commands() []queue.Command {
	e.t.Helper()
	ctx := ctxT(e.t)
	var out []queue.Command
	for {
		msgs, err := e.queue.Receive(ctx, 1000, 0)
		if err != nil {
			e.t.Fatal(err)
		}
		if len(msgs) == 0 {
			return out
		}
		for _, m := range msgs {
			out = append(out, m.Command)
			if err := e.queue.Ack(ctx, m); err != nil {
				e.t.Fatal(err)
			}
		}
	}
}

// wantNothingStored checks that Redis holds no job and the queue no command.
func (e *env) wantNothingStored() {
	e.t.Helper()
	ctx := ctxT(e.t)
	for _, key := range []string{store.KeyJobs, store.KeyStreamKeys} {
		if n := e.rdb.HLen(ctx, key).Val(); n != 0 {
			e.t.Errorf("redis %s holds %d entries, want none", key, n)
		}
	}
	if n := e.rdb.ZCard(ctx, store.KeyJobIDs).Val(); n != 0 {
		e.t.Errorf("redis %s holds %d ids, want none", store.KeyJobIDs, n)
	}
	if n := e.rdb.XLen(ctx, queue.DefaultStream).Val(); n != 0 {
		e.t.Errorf("queue holds %d commands, want none", n)
	}
}

// putJob stores a job in the given state directly, as a scheduler would
// have left it.
// createSigned creates a job of the sample spec whose playback is signed.
func (e *env) createSigned() *jobspec.LiveJob {
	e.t.Helper()
	var spec map[string]any
	if err := json.Unmarshal(sampleSpec(e.t), &spec); err != nil {
		e.t.Fatal(err)
	}
	spec["Playback_policy"] = jobspec.PlaybackSigned
	body, _ := json.Marshal(spec)
	return e.do("POST", "/jobs", body).want(e.t, http.StatusCreated).job(e.t)
}

func (e *env) putJob(state jobspec.State) *jobspec.LiveJob {
	e.t.Helper()
	ctx := ctxT(e.t)
	job, err := e.client.Create(ctx, sampleSpec(e.t), false)
	if err != nil {
		e.t.Fatal(err)
	}
	e.commands()
	if state == jobspec.StateCreated {
		return job
	}
	job, err = e.store.UpdateJob(ctx, job.Id, func(j *jobspec.LiveJob) error {
		j.SetState(state, "set by test", time.Now().UTC())
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return job
}

func jsonBody(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
