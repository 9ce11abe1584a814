package apiserver_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ezlivestreaming/ezlive/apiserver"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/store"
)

// countingEvents is an EventSource that counts the blocking reads running
// at once, and fails them while failing is set.
type countingEvents struct {
	apiserver.EventSource
	blocking, maxBlocking atomic.Int32
	failing               atomic.Bool
	failed                chan struct{} // a value (when it has room) per failed read
}

func (c *countingEvents) JobEvents(ctx context.Context, after string, count int64, block time.Duration) ([]store.JobEvent, error) {
	if block > 0 {
		n := c.blocking.Add(1)
		defer c.blocking.Add(-1)
		for m := c.maxBlocking.Load(); n > m && !c.maxBlocking.CompareAndSwap(m, n); m = c.maxBlocking.Load() {
		}
		if c.failing.Load() {
			select {
			case c.failed <- struct{}{}:
			default:
			}
			return nil, errors.New("redis down")
		}
	}
	return c.EventSource.JobEvents(ctx, after, count, block)
}

// eventsAPI is a second API on e's Redis whose event routes read job_events
// through src, on a client of their own: that client's pool is theirs alone.
type eventsAPI struct {
	srv *apiserver.Server
	url string
	src *countingEvents
	rdb *redis.Client
}

func newEventsAPI(t *testing.T, e *env) *eventsAPI {
	t.Helper()
	rdb := e.redis.Client(t)
	src := &countingEvents{EventSource: store.New(rdb), failed: make(chan struct{}, 1)}
	s, err := apiserver.New(apiserver.Config{
		Store: e.store, Queue: e.queue, Events: src,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return &eventsAPI{srv: s, url: hs.URL, src: src, rdb: rdb}
}

// inUse is how many of the events client's connections are taken.
func (a *eventsAPI) inUse() int {
	st := a.rdb.PoolStats()
	return int(st.TotalConns) - int(st.IdleConns)
}

// blockedClients is how many connections Redis holds in a blocking read.
func (e *env) blockedClients() int {
	e.t.Helper()
	info, err := e.rdb.Info(ctxT(e.t), "clients").Result()
	if err != nil {
		e.t.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "blocked_clients:"); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				e.t.Fatalf("blocked_clients %q", v)
			}
			return n
		}
	}
	e.t.Fatalf("no blocked_clients in %q", info)
	return 0
}

// eventIDs returns the ids of job_events after position after.
func (e *env) eventIDs(after string) []string {
	e.t.Helper()
	start := "-"
	if after != "" {
		start = "(" + after
	}
	msgs, err := e.rdb.XRange(ctxT(e.t), store.KeyJobEvents, start, "+").Result()
	if err != nil {
		e.t.Fatal(err)
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	return ids
}

// steps makes n state changes of the job, reasons "<prefix> <i>"; each
// waits for wait, when set, before the next is made.
func (e *env) steps(id, prefix string, n int, wait func(i int)) {
	e.t.Helper()
	for i := range n {
		st := jobspec.StateRunning
		if i%2 == 1 {
			st = jobspec.StateStreaming
		}
		e.setState(id, st, fmt.Sprintf("%s %d", prefix, i))
		if wait != nil {
			wait(i)
		}
	}
}

// liveIDs reads n live state events (history, which has no id, is skipped)
// and returns their ids.
func (c *sseClient) liveIDs(n int) []string {
	c.t.Helper()
	var ids []string
	for len(ids) < n {
		if se := c.state(); se.Id != "" {
			ids = append(ids, se.Id)
		}
	}
	return ids
}

func sameIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("%s sent\n%v\njob_events has\n%v", what, got, want)
	}
}

// TestEventStreamsShareOneReader opens many streams: they all get every
// event in order, while one read at a time waits in Redis for all of them.
func TestEventStreamsShareOneReader(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := newEventsAPI(t, e)
	job := e.putJob(jobspec.StateCreated)
	const streams, n = 50, 20
	clients := make([]*sseClient, streams)
	for i := range clients {
		path := "/events"
		if i%2 == 0 {
			path = "/jobs/" + job.Id + "/events"
		}
		clients[i] = openSSE(t, api.url+path)
	}
	for _, c := range clients {
		c.jobUntil(func(*jobspec.LiveJob) bool { return true })
	}
	// Every stream is past its start: the events client has only the hub's
	// read to do (the streams' record refreshes go through the store).
	const handful = 2
	if used, blocked := api.inUse(), e.blockedClients(); used > handful || blocked > 1 {
		t.Fatalf("%d streams hold %d connections of the events pool; %d are blocked in Redis", streams, used, blocked)
	}
	start := e.eventIDs("")
	e.steps(job.Id, "step", n, nil)
	want := e.eventIDs(start[len(start)-1])
	for i, c := range clients {
		sameIDs(t, fmt.Sprintf("stream %d", i), c.liveIDs(n), want)
	}
	if used, blocked := api.inUse(), e.blockedClients(); used > handful || blocked > 1 {
		t.Fatalf("%d streams hold %d connections of the events pool; %d are blocked in Redis", streams, used, blocked)
	}
	if m := api.src.maxBlocking.Load(); m != 1 {
		t.Fatalf("%d blocking reads of job_events at once, want 1", m)
	}
}

// TestEventStreamResumes reconnects with old Last-Event-IDs while events go
// on: each stream gets every event after its id, then the live ones, with
// no gap or repeat where it catches up with the hub.
func TestEventStreamResumes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := newEventsAPI(t, e)
	job := e.putJob(jobspec.StateCreated)
	live := openSSE(t, api.url+"/events")
	live.jobUntil(func(*jobspec.LiveJob) bool { return true })
	const missed, more = 150, 30 // missed > a read's batch of 100
	e.steps(job.Id, "missed", missed, nil)
	live.liveIDs(missed) // the hub has read them all
	all := e.eventIDs("")
	mid := all[len(all)/2]
	ms, _, _ := strings.Cut(all[len(all)-missed/3], "-")
	resumes := []struct{ name, id string }{
		{"from the start", "1-0"},
		{"from the middle", mid},
		{"from a millisecond", ms},
		{"from the hub's position", all[len(all)-1]},
	}
	clients := make([]*sseClient, len(resumes))
	for i, r := range resumes {
		clients[i] = openSSE(t, api.url+"/events", "Last-Event-ID: "+r.id)
	}
	e.steps(job.Id, "more", more, nil)
	for i, r := range resumes {
		want := e.eventIDs(r.id)
		sameIDs(t, r.name, clients[i].liveIDs(len(want)), want)
	}
}

// gatedWriter is a stream's client that reads its first write, then
// nothing until the gate opens. Each write (one event) goes to writes.
type gatedWriter struct {
	header http.Header
	gate   chan struct{}
	writes chan []byte
	n      int
}

func newGatedWriter() *gatedWriter {
	return &gatedWriter{header: http.Header{}, gate: make(chan struct{}), writes: make(chan []byte, 10000)}
}

func (w *gatedWriter) Header() http.Header { return w.header }
func (w *gatedWriter) WriteHeader(int)     {}
func (w *gatedWriter) Flush()              {}

func (w *gatedWriter) Write(b []byte) (int, error) {
	if w.n++; w.n > 1 {
		<-w.gate
	}
	w.writes <- bytes.Clone(b)
	return len(b), nil
}

// stateIDs reads n state events from the writes and returns their ids.
func (w *gatedWriter) stateIDs(t *testing.T, n int) []string {
	t.Helper()
	var ids []string
	timeout := time.After(20 * time.Second)
	for len(ids) < n {
		select {
		case b := <-w.writes:
			sc := bufio.NewScanner(bytes.NewReader(b))
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			var id, event, data string
			for sc.Scan() {
				line := sc.Text()
				if v, ok := strings.CutPrefix(line, "id: "); ok {
					id = v
				}
				if v, ok := strings.CutPrefix(line, "event: "); ok {
					event = v
				}
				if v, ok := strings.CutPrefix(line, "data: "); ok {
					data = v
				}
			}
			if event != "state" {
				continue
			}
			var se apiserver.StateEvent
			if err := json.Unmarshal([]byte(data), &se); err != nil || se.Id != id {
				t.Fatalf("state event id %q data %q (%v)", id, data, err)
			}
			ids = append(ids, id)
		case <-timeout:
			t.Fatalf("%d of %d state events within 20 s", len(ids), n)
		}
	}
	return ids
}

// TestSlowEventStream keeps one client from reading while many events
// come: the others get each event before the next is made, and the slow
// one, once it reads again, gets them all in order.
func TestSlowEventStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := newEventsAPI(t, e)
	job := e.putJob(jobspec.StateCreated)
	fast := openSSE(t, api.url+"/events")
	fast.jobUntil(func(*jobspec.LiveJob) bool { return true })

	slow := newGatedWriter()
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	served := make(chan struct{})
	go func() {
		defer close(served)
		api.srv.Handler().ServeHTTP(slow, req)
	}()
	opened := false
	t.Cleanup(func() {
		cancel()
		if !opened {
			close(slow.gate)
		}
		<-served
	})
	select {
	case <-slow.writes: // the active job's record: the stream follows the hub
	case <-time.After(20 * time.Second):
		t.Fatal("no record on the slow stream within 20 s")
	}

	// Each event is made once the fast stream has it, so that the hub reads
	// it alone: more batches than the slow stream has room for.
	n := 3 * apiserver.EventSubBuffer
	start := e.eventIDs("")
	var fastIDs []string
	e.steps(job.Id, "step", n, func(int) { fastIDs = append(fastIDs, fast.liveIDs(1)...) })
	sameIDs(t, "the fast stream", fastIDs, e.eventIDs(start[len(start)-1]))
	if lags := apiserver.EventReaderLags(api.srv); lags == 0 {
		t.Fatal("the hub handed every batch to the slow stream; want it to fall behind")
	}
	opened = true
	close(slow.gate)
	sameIDs(t, "the slow stream", slow.stateIDs(t, n), fastIDs)
}

// TestEventReaderStopsWithLastStream: the hub reads while a stream is open,
// stops when the last one leaves, and starts again for the next.
func TestEventReaderStopsWithLastStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := newEventsAPI(t, e)
	job := e.putJob(jobspec.StateCreated)
	if apiserver.EventReaderDone(api.srv) != nil {
		t.Fatal("the hub reads before any stream opened")
	}
	a := openSSE(t, api.url+"/events")
	b := openSSE(t, api.url+"/jobs/"+job.Id+"/events")
	a.jobUntil(func(*jobspec.LiveJob) bool { return true })
	b.jobUntil(func(*jobspec.LiveJob) bool { return true })
	done := apiserver.EventReaderDone(api.srv)
	if done == nil {
		t.Fatal("no hub reads for two open streams")
	}
	a.cancel()
	a.wantEnd()
	waitStreams(t, api.url, "1")
	select {
	case <-done:
		t.Fatal("the hub stopped while a stream is open")
	default:
	}
	b.cancel()
	b.wantEnd()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the hub still reads 20 s after the last stream closed")
	}
	if apiserver.EventReaderDone(api.srv) != nil {
		t.Fatal("a hub reads with no stream open")
	}

	c := openSSE(t, api.url+"/jobs/"+job.Id+"/events")
	c.jobUntil(func(*jobspec.LiveJob) bool { return true })
	if apiserver.EventReaderDone(api.srv) == nil {
		t.Fatal("no hub reads for the new stream")
	}
	e.setState(job.Id, jobspec.StateScheduled, "after a restart")
	want := e.eventIDs("")
	sameIDs(t, "the new stream", c.liveIDs(1), want[len(want)-1:])
}

// waitStreams waits until the API at url counts want open streams.
func waitStreams(t *testing.T, url, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(body), "\nezlive_api_event_streams "+want+"\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("open streams not %s within 20 s:\n%s", want, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestEventReaderRetries: while Redis fails the hub's reads the stream
// stays open, and it gets the event made meanwhile once reads work again.
func TestEventReaderRetries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := newEventsAPI(t, e)
	job := e.putJob(jobspec.StateCreated)
	api.src.failing.Store(true)
	c := openSSE(t, api.url+"/events")
	c.jobUntil(func(*jobspec.LiveJob) bool { return true })
	select {
	case <-api.src.failed:
	case <-time.After(20 * time.Second):
		t.Fatal("no read of the hub within 20 s")
	}
	e.setState(job.Id, jobspec.StateScheduled, "while Redis failed")
	api.src.failing.Store(false)
	if se := c.state(); se.Reason != "while Redis failed" || se.JobId != job.Id {
		t.Fatalf("state event %+v", se)
	}
}

func TestEventIDOrder(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"1-0", "2-0", true},
		{"9-0", "10-0", true}, // not as strings
		{"5-9", "5-10", true},
		{"5-0", "5-1", true},
		{"5", "5-1", true}, // ms alone is ms-0
		{"5", "5-0", false},
		{"5-0", "5", false},
		{"0", "1-0", true},
		{"7-3", "7-3", false},
		{"10-0", "9-99", false},
	} {
		if got := apiserver.EventIDBefore(tc.a, tc.b); got != tc.want {
			t.Errorf("%s before %s: %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
