package apiserver_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/apiserver"
	"github.com/ezlivestreaming/ezlive/client"
	"github.com/ezlivestreaming/ezlive/jobspec"
)

func TestHealth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.do("GET", "/healthz", nil).want(t, http.StatusOK)
	if a := e.do("GET", "/readyz", nil).want(t, http.StatusOK); !strings.Contains(string(a.body), `"redis":"ok"`) {
		t.Errorf("readyz %s", a.body)
	}
	if err := e.client.Ready(ctxT(t)); err != nil {
		t.Error(err)
	}
}

func TestRouting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.do("GET", "/nothing/here", nil).want(t, http.StatusNotFound).problem(t)
	if !strings.Contains(p.Detail, "/nothing/here") {
		t.Errorf("404 detail %q", p.Detail)
	}
	e.do("GET", "/jobs/x/y", nil).want(t, http.StatusNotFound).problem(t)
	// Without a feed controller there are no feed routes.
	e.do("POST", "/jobs/"+e.putJob(jobspec.StateRunning).Id+"/feed", nil).want(t, http.StatusNotFound).problem(t)

	a := e.do("PATCH", "/jobs", nil).want(t, http.StatusMethodNotAllowed)
	a.problem(t)
	if allow := a.header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
		t.Errorf("Allow %q", allow)
	}
	e.do("POST", "/jobs/some-id/stop", nil).want(t, http.StatusMethodNotAllowed).problem(t)
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	big := append([]byte(`{"Output":{"Stream_type":"`), bytes.Repeat([]byte("x"), apiserver.MaxBodyBytes)...)
	big = append(big, `"}}`...)
	p := e.do("POST", "/jobs", big).want(t, http.StatusRequestEntityTooLarge).problem(t)
	if !strings.Contains(p.Detail, "1 MiB") {
		t.Errorf("413 detail %q", p.Detail)
	}
	e.wantNothingStored()
}

// A declared Content-Length over the limit is answered 413 before any of
// the body is read: a client that asks "Expect: 100-continue" never sends
// it, and one that does not is not reset halfway through.
func TestBodyLimitFromContentLength(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /jobs HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"+
		"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n", 10<<20)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d before the body was sent, want 413", resp.StatusCode)
	}
	body, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, body: body}
	if p := a.problem(t); !strings.Contains(p.Detail, "1 MiB") {
		t.Errorf("413 detail %q", p.Detail)
	}
	e.wantNothingStored()
}

func TestCORS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *apiserver.Config) { c.Token = "secret" })
	// A preflight carries no token.
	a := e.do("OPTIONS", "/jobs", nil, "Origin: http://page.test",
		"Access-Control-Request-Method: POST", "Access-Control-Request-Headers: authorization,content-type")
	a.want(t, http.StatusNoContent)
	h := a.header
	if h.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight headers %v", h)
	}
	a = e.do("OPTIONS", "/jobs/some-id/stop", nil, "Origin: http://page.test", "Access-Control-Request-Method: PUT")
	if a.want(t, http.StatusNoContent); !strings.Contains(a.header.Get("Access-Control-Allow-Methods"), "PUT") {
		t.Errorf("preflight of stop allows %q", a.header.Get("Access-Control-Allow-Methods"))
	}
	e.do("OPTIONS", "/nowhere", nil, "Access-Control-Request-Method: GET").want(t, http.StatusNotFound)

	a = e.do("GET", "/jobs", nil, "Origin: http://page.test", "Authorization: Bearer secret").want(t, http.StatusOK)
	if a.header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(a.header.Get("Access-Control-Expose-Headers"), "Link") {
		t.Errorf("CORS headers %v", a.header)
	}
}

func TestToken(t *testing.T) {
	t.Parallel()
	web := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("demo page " + r.URL.Path)) })
	e := newEnv(t, func(c *apiserver.Config) { c.Token, c.Web = "secret", web })

	for _, auth := range []string{"", "Authorization: Bearer wrong", "Authorization: secret"} {
		var headers []string
		if auth != "" {
			headers = append(headers, auth)
		}
		a := e.do("GET", "/jobs", nil, headers...).want(t, http.StatusUnauthorized)
		a.problem(t)
		if !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("401 without WWW-Authenticate: %v", a.header)
		}
		e.do("POST", "/jobs", sampleSpec(t), headers...).want(t, http.StatusUnauthorized)
	}
	e.wantNothingStored()
	e.do("GET", "/jobs", nil, "Authorization: Bearer secret").want(t, http.StatusOK)
	e.do("GET", "/healthz", nil).want(t, http.StatusOK)
	e.do("GET", "/readyz", nil).want(t, http.StatusOK)
	// /metrics names every active job: it needs the token too.
	e.do("GET", "/metrics", nil).want(t, http.StatusUnauthorized).problem(t)
	e.do("GET", "/metrics", nil, "Authorization: Bearer secret").want(t, http.StatusOK)
	if a := e.do("GET", "/index.html", nil).want(t, http.StatusOK); string(a.body) != "demo page /index.html" {
		t.Errorf("web page answered %q", a.body)
	}
	// The client sends its token.
	if _, err := e.client.Create(ctxT(t), sampleSpec(t), false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := client.New(e.url, "").List(ctxT(t), nil, 0, ""); !client.IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("client without token: %v", err)
	}
}

func TestWebFallback(t *testing.T) {
	t.Parallel()
	web := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("page")) })
	e := newEnv(t, func(c *apiserver.Config) { c.Web = web })
	if a := e.do("GET", "/", nil).want(t, http.StatusOK); string(a.body) != "page" {
		t.Errorf("GET / answered %q", a.body)
	}
	e.do("HEAD", "/app.js", nil).want(t, http.StatusOK)
	// API paths and other methods never reach the page.
	e.do("GET", "/jobs/x/y", nil).want(t, http.StatusNotFound).problem(t)
	e.do("POST", "/index.html", nil).want(t, http.StatusNotFound).problem(t)
}

// fakeFeed records what the API asks of the demo feed.
type fakeFeed struct {
	mu      sync.Mutex
	running map[string]bool
	fail    error
}

func (f *fakeFeed) Start(ctx context.Context, job *jobspec.LiveJob) error {
	if ctx.Err() != nil {
		return errors.New("started with a dead context")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.running[job.Id] = true
	return nil
}

func (f *fakeFeed) Stop(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.running, id)
	return nil
}

func (f *fakeFeed) Running(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running[id]
}

func TestFeed(t *testing.T) {
	t.Parallel()
	feed := &fakeFeed{running: map[string]bool{}}
	e := newEnv(t, func(c *apiserver.Config) { c.Feed = feed })
	ctx := ctxT(t)

	job := e.putJob(jobspec.StateCreated)
	p := e.do("POST", "/jobs/"+job.Id+"/feed", nil).want(t, http.StatusConflict).problem(t)
	if p.State != jobspec.StateCreated || !strings.Contains(p.Detail, "created") {
		t.Errorf("409 %+v does not name the state", p)
	}
	if _, err := e.store.UpdateJob(ctx, job.Id, func(j *jobspec.LiveJob) error {
		j.SetState(jobspec.StateRunning, "listening", time.Now().UTC())
		j.RtmpIngestUrl = "rtmp://127.0.0.1:1935/live/" + j.StreamKey
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.client.StartFeed(ctx, job.Id); err != nil {
		t.Fatal(err)
	}
	if !feed.Running(job.Id) {
		t.Error("feed not started")
	}
	if running, err := e.client.FeedRunning(ctx, job.Id); err != nil || !running {
		t.Errorf("feed status %v, %v", running, err)
	}
	e.do("DELETE", "/jobs/"+job.Id+"/feed", nil).want(t, http.StatusNoContent)
	if feed.Running(job.Id) {
		t.Error("feed not stopped")
	}
	if err := e.client.StopFeed(ctx, job.Id); err != nil {
		t.Errorf("stopping a stopped feed: %v", err)
	}
	e.do("POST", "/jobs/not-a-job/feed", nil).want(t, http.StatusNotFound)
	const unknown = "/jobs/01a20cb6-bd84-7ba2-8afa-0aeed45ed14c/feed" // a well-formed id of no job
	for _, method := range []string{"GET", "POST", "DELETE"} {
		e.do(method, unknown, nil).want(t, http.StatusNotFound).problem(t)
	}

	feed.mu.Lock()
	feed.fail = errors.New("ffmpeg missing")
	feed.mu.Unlock()
	e.do("POST", "/jobs/"+job.Id+"/feed", nil).want(t, http.StatusInternalServerError).problem(t)
}

func TestNewNeedsStoreAndQueue(t *testing.T) {
	t.Parallel()
	if _, err := apiserver.New(apiserver.Config{}); err == nil {
		t.Error("New accepted a config without store and queue")
	}
}
