package apiserver_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ezlivestreaming/ezlive/apiserver"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/metrics"
	"github.com/ezlivestreaming/ezlive/store"
)

// sseEvent is one Server-Sent Event as a client sees it.
type sseEvent struct{ id, event, data string }

// sseClient reads a stream in the background; its events arrive on events,
// which is closed when the stream ends.
type sseClient struct {
	t      *testing.T
	events chan sseEvent
	cancel context.CancelFunc
	status int
}

func openSSE(t *testing.T, url string, headers ...string) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	c := &sseClient{t: t, events: make(chan sseEvent, 1000), cancel: cancel, status: resp.StatusCode}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode == http.StatusOK && ct != "text/event-stream" {
		t.Fatalf("stream Content-Type %q", ct)
	}
	go func() {
		defer resp.Body.Close()
		defer close(c.events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.event != "" {
					c.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			}
		}
	}()
	return c
}

// next returns the next event of one of the kinds, skipping others; ok is
// false when the stream ended.
func (c *sseClient) next(kinds ...string) (sseEvent, bool) {
	c.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				return sseEvent{}, false
			}
			for _, k := range kinds {
				if ev.event == k {
					return ev, true
				}
			}
		case <-timeout:
			c.t.Fatalf("no %v event within 20 s", kinds)
		}
	}
}

// wantEnd reads what is left and fails unless the server ends the stream.
func (c *sseClient) wantEnd() {
	c.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case _, ok := <-c.events:
			if !ok {
				return
			}
		case <-timeout:
			c.t.Fatal("the server did not end the stream within 20 s")
		}
	}
}

func (c *sseClient) state() apiserver.StateEvent {
	c.t.Helper()
	ev, ok := c.next("state")
	if !ok {
		c.t.Fatal("stream ended; want a state event")
	}
	var se apiserver.StateEvent
	if err := json.Unmarshal([]byte(ev.data), &se); err != nil {
		c.t.Fatalf("state event %q: %v", ev.data, err)
	}
	if se.Id != ev.id {
		c.t.Fatalf("state event id %q, data Id %q", ev.id, se.Id)
	}
	return se
}

// jobUntil reads job events until one satisfies ok.
func (c *sseClient) jobUntil(ok func(*jobspec.LiveJob) bool) *jobspec.LiveJob {
	c.t.Helper()
	for {
		ev, more := c.next("job")
		if !more {
			c.t.Fatal("stream ended; want a job event")
		}
		var j jobspec.LiveJob
		if err := json.Unmarshal([]byte(ev.data), &j); err != nil {
			c.t.Fatalf("job event %q: %v", ev.data, err)
		}
		if ok(&j) {
			return &j
		}
	}
}

func (e *env) setState(id string, st jobspec.State, reason string) {
	e.t.Helper()
	_, err := e.store.UpdateJob(ctxT(e.t), id, func(j *jobspec.LiveJob) error {
		j.SetState(st, reason, time.Now().UTC())
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func TestJobEventsHistory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	job := e.putJob(jobspec.StateCreated)
	e.do("PUT", "/jobs/"+job.Id+"/stop", nil).want(t, http.StatusAccepted)
	a := e.do("GET", "/jobs/"+job.Id+"/events", nil).want(t, http.StatusOK)
	var events []jobspec.Event
	if err := json.Unmarshal(a.body, &events); err != nil {
		t.Fatalf("%s: %v", a.body, err)
	}
	if len(events) != 2 || events[0].To != jobspec.StateCreated || events[1].From != jobspec.StateCreated ||
		events[1].To != jobspec.StateStopping || events[1].Reason == "" || events[1].Time.IsZero() {
		t.Fatalf("history %s", a.body)
	}
	e.do("GET", "/jobs/0190c0de-0000-7000-8000-000000000000/events", nil).want(t, http.StatusNotFound).problem(t)
	e.do("GET", "/jobs/"+job.Id+"/events?stream=maybe", nil).want(t, http.StatusBadRequest).problem(t)
}

func TestJobEventStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	job := e.putJob(jobspec.StateCreated)
	c := openSSE(t, e.url+"/jobs/"+job.Id+"/events")
	if h := c.state(); h.To != jobspec.StateCreated || h.Id != "" {
		t.Fatalf("history event %+v", h)
	}
	c.jobUntil(func(j *jobspec.LiveJob) bool { return j.Id == job.Id && j.State == jobspec.StateCreated })

	steps := []jobspec.State{jobspec.StateScheduled, jobspec.StateRunning, jobspec.StateStreaming}
	for _, st := range steps {
		e.setState(job.Id, st, "test "+string(st))
	}
	for _, st := range steps {
		if se := c.state(); se.To != st || se.Reason != "test "+string(st) || se.JobId != job.Id || se.Id == "" {
			t.Fatalf("live event %+v, want %s", se, st)
		}
	}
	// Stats change the record without a state change: a job event tells.
	_, err := e.store.UpdateJob(ctxT(t), job.Id, func(j *jobspec.LiveJob) error {
		j.Stats = &jobspec.Stats{Fps: 29.97}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c.jobUntil(func(j *jobspec.LiveJob) bool { return j.Stats != nil && j.Stats.Fps == 29.97 })

	e.setState(job.Id, jobspec.StateDeleting, "test delete")
	if err := e.store.DeleteJob(ctxT(t), job.Id); err != nil {
		t.Fatal(err)
	}
	ev, ok := c.next("deleted")
	if !ok || !strings.Contains(ev.data, job.Id) {
		t.Fatalf("final event %+v (stream open %v)", ev, ok)
	}
	c.wantEnd()
}

// TestJobEventStreamLosesNothing changes the job while the stream opens: the
// events received must be exactly the record's history, in order, with no
// gap or repeat between the history and the live part.
func TestJobEventStreamLosesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	job := e.putJob(jobspec.StateCreated)
	const n = 40
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			st := jobspec.StateRunning
			if i%2 == 1 {
				st = jobspec.StateStreaming
			}
			_, err := e.store.UpdateJob(context.Background(), job.Id, func(j *jobspec.LiveJob) error {
				j.SetState(st, fmt.Sprintf("step %d", i), time.Now().UTC())
				return nil
			})
			if err != nil {
				t.Error(err)
				return
			}
		}
	}()
	c := openSSE(t, e.url+"/jobs/"+job.Id+"/events")
	var got []string
	for len(got) == 0 || got[len(got)-1] != fmt.Sprintf("step %d", n-1) {
		got = append(got, c.state().Reason)
	}
	<-done
	final, err := e.store.Job(ctxT(t), job.Id)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, ev := range final.Events {
		want = append(want, ev.Reason)
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("stream sent\n%v\nrecord has\n%v", got, want)
	}
}

func TestEventStreamEndsWhenClientLeaves(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	job := e.putJob(jobspec.StateCreated)
	c := openSSE(t, e.url+"/jobs/"+job.Id+"/events")
	c.jobUntil(func(*jobspec.LiveJob) bool { return true })
	all := openSSE(t, e.url+"/events")
	all.jobUntil(func(*jobspec.LiveJob) bool { return true })
	if v := e.metric("ezlive_api_event_streams", ""); v != "2" {
		t.Fatalf("open streams %q, want 2", v)
	}
	c.cancel()
	all.cancel()
	deadline := time.Now().Add(20 * time.Second)
	for e.metric("ezlive_api_event_streams", "") != "0" {
		if time.Now().After(deadline) {
			t.Fatal("the stream handlers still run 20 s after their clients left")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metric returns the value of the series whose line starts with
// name+labels in the API's /metrics ("" when absent).
func (e *env) metric(name, labels string) string {
	e.t.Helper()
	body := string(e.do("GET", "/metrics", nil).want(e.t, http.StatusOK).body)
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+labels+" "); ok {
			return v
		}
	}
	return ""
}

func TestAllEventsStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	old := e.putJob(jobspec.StateRunning)
	c := openSSE(t, e.url+"/events?stream=1")
	c.jobUntil(func(j *jobspec.LiveJob) bool { return j.Id == old.Id && j.State == jobspec.StateRunning })

	job := e.putJob(jobspec.StateCreated)
	if se := c.state(); se.JobId != job.Id || se.To != jobspec.StateCreated {
		t.Fatalf("state event %+v, want the new job created", se)
	}
	c.jobUntil(func(j *jobspec.LiveJob) bool { return j.Id == job.Id })

	e.do("PUT", "/jobs/"+old.Id+"/stop", nil).want(t, http.StatusAccepted)
	if se := c.state(); se.JobId != old.Id || se.To != jobspec.StateStopping {
		t.Fatalf("state event %+v, want the old job stopping", se)
	}
	c.jobUntil(func(j *jobspec.LiveJob) bool { return j.Id == old.Id && j.State == jobspec.StateStopping })

	// A job that is no longer active is still followed after a state change.
	e.setState(old.Id, jobspec.StateStopped, "test stopped")
	c.jobUntil(func(j *jobspec.LiveJob) bool { return j.Id == old.Id && j.State == jobspec.StateStopped })
	e.setState(old.Id, jobspec.StateDeleting, "test delete")
	if err := e.store.DeleteJob(ctxT(t), old.Id); err != nil {
		t.Fatal(err)
	}
	for {
		ev, ok := c.next("deleted")
		if !ok {
			t.Fatal("stream ended")
		}
		if strings.Contains(ev.data, old.Id) {
			break
		}
	}
	e.setState(job.Id, jobspec.StateDeleting, "test delete")
	if err := e.store.DeleteJob(ctxT(t), job.Id); err != nil {
		t.Fatal(err)
	}
	for {
		ev, ok := c.next("deleted")
		if !ok {
			t.Fatal("stream ended")
		}
		if strings.Contains(ev.data, job.Id) {
			break
		}
	}
}

// TestInputAndOutputEventsStream: a heartbeat's input loss and restore,
// and its outputs failing and restored, reach both event streams under
// their types ("input_lost", "output_failing"...), never as "state" (the
// state does not change), followed by the record that shows them; a stream
// opened later sends them in the history under the same names.
func TestInputAndOutputEventsStream(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"/events?stream=1", "/jobs/%s/events"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			job := e.putJob(jobspec.StateStreaming)
			url := e.url + path
			if strings.Contains(path, "%s") {
				url = fmt.Sprintf(e.url+path, job.Id)
			}
			c := openSSE(t, url)
			c.jobUntil(func(j *jobspec.LiveJob) bool { return j.Id == job.Id })

			lostAt := time.Now().Add(-time.Second).UTC().Truncate(time.Millisecond)
			heartbeat := func(lost, failing time.Time) {
				t.Helper()
				hb := store.HeartbeatReport{JobID: job.Id, Streaming: true, InputLostSince: lost, OutputFailingSince: failing, Time: time.Now()}
				if !failing.IsZero() {
					hb.OutputError = "PUT index.m3u8: origin answered 500 Internal Server Error"
				}
				if _, err := e.store.RecordHeartbeat(ctxT(t), hb); err != nil {
					t.Fatal(err)
				}
			}
			for _, step := range []struct {
				lost, failing time.Time
				want          jobspec.EventType
			}{
				{lostAt, time.Time{}, jobspec.EventInputLost}, {time.Time{}, time.Time{}, jobspec.EventInputRestored},
				{time.Time{}, lostAt, jobspec.EventOutputFailing}, {time.Time{}, time.Time{}, jobspec.EventOutputRestored},
			} {
				heartbeat(step.lost, step.failing)
				ev, ok := c.next(eventNames...)
				if !ok {
					t.Fatal("stream ended")
				}
				var se apiserver.StateEvent
				if err := json.Unmarshal([]byte(ev.data), &se); err != nil {
					t.Fatal(err)
				}
				if ev.event != string(step.want) || se.Type != step.want || se.To != jobspec.StateStreaming || se.From != jobspec.StateStreaming ||
					se.JobId != job.Id || se.Id == "" || se.Id != ev.id {
					t.Fatalf("event %q %+v, want %s with the state unchanged", ev.event, se, step.want)
				}
				onset := step.want == jobspec.EventInputLost || step.want == jobspec.EventOutputFailing
				if onset && !se.Time.Equal(lostAt) {
					t.Errorf("%s at %v, want its start %v", step.want, se.Time, lostAt)
				}
				c.jobUntil(func(j *jobspec.LiveJob) bool {
					return j.Id == job.Id && j.Input_lost_since.Equal(step.lost) && j.Output_failing_since.Equal(step.failing)
				})
			}

			if !strings.Contains(path, "%s") {
				return
			}
			later := openSSE(t, url)
			var names []string
			for range 6 {
				ev, ok := later.next(eventNames...)
				if !ok {
					t.Fatal("stream ended")
				}
				names = append(names, ev.event)
			}
			// created, streaming, then the input and output events
			if want := "[state state input_lost input_restored output_failing output_restored]"; fmt.Sprint(names) != want {
				t.Errorf("history %v, want %s", names, want)
			}
		})
	}
}

// eventNames are the SSE names of every job event.
var eventNames = []string{"state", string(jobspec.EventInputLost), string(jobspec.EventInputRestored),
	string(jobspec.EventOutputFailing), string(jobspec.EventOutputRestored)}

func TestAllEventsPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.putJob(jobspec.StateCreated), e.putJob(jobspec.StateCreated)
	first := e.do("GET", "/events?limit=1", nil).want(t, http.StatusOK)
	var page []apiserver.StateEvent
	if err := json.Unmarshal(first.body, &page); err != nil || len(page) != 1 || page[0].JobId != a.Id || page[0].Id == "" {
		t.Fatalf("first page %s (%v)", first.body, err)
	}
	next, ok := strings.CutPrefix(first.header.Get("Link"), "</events?")
	next, _, _ = strings.Cut(next, ">")
	if !ok || !strings.HasSuffix(first.header.Get("Link"), `>; rel="next"`) {
		t.Fatalf("Link %q", first.header.Get("Link"))
	}
	second := e.do("GET", "/events?"+next, nil).want(t, http.StatusOK)
	if err := json.Unmarshal(second.body, &page); err != nil || len(page) != 1 || page[0].JobId != b.Id {
		t.Fatalf("second page %s (%v)", second.body, err)
	}
	e.do("GET", "/events?after=yesterday", nil).want(t, http.StatusBadRequest).problem(t)
}

// TestStreamOutlivesServerTimeouts runs the API behind NewHTTPServer with
// timeouts shorter than the test: the stream must still deliver after
// them, and Shutdown must end it rather than wait for the client.
func TestStreamOutlivesServerTimeouts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s, err := apiserver.New(apiserver.Config{Store: e.store, Queue: e.queue})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := apiserver.NewHTTPServer(l.Addr().String(), s.Handler())
	srv.ReadTimeout, srv.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	job := e.putJob(jobspec.StateCreated)
	c := openSSE(t, "http://"+l.Addr().String()+"/jobs/"+job.Id+"/events")
	c.jobUntil(func(*jobspec.LiveJob) bool { return true })
	time.Sleep(time.Second) // past both timeouts
	e.setState(job.Id, jobspec.StateScheduled, "after the timeouts")
	if se := c.state(); se.Reason != "after the timeouts" {
		t.Fatalf("state event %+v", se)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with an open stream: %v", err)
	}
	c.wantEnd()
}

func TestMetricsCountRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	job := e.putJob(jobspec.StateCreated)
	e.do("GET", "/jobs/"+job.Id, nil).want(t, http.StatusOK)
	e.do("GET", "/jobs/"+job.Id, nil).want(t, http.StatusOK)
	e.do("GET", "/jobs/0190c0de-0000-7000-8000-000000000000", nil).want(t, http.StatusNotFound)
	if v := e.metric("ezlive_api_requests_total", `{code="200",method="GET",route="/jobs/:id"}`); v != "2" {
		t.Errorf("GET /jobs/:id 200 counted %q, want 2", v)
	}
	if v := e.metric("ezlive_api_requests_total", `{code="404",method="GET",route="/jobs/:id"}`); v != "1" {
		t.Errorf("GET /jobs/:id 404 counted %q, want 1", v)
	}
	if v := e.metric("ezlive_api_requests_total", `{code="201",method="POST",route="/jobs"}`); v != "1" {
		t.Errorf("POST /jobs 201 counted %q, want 1", v)
	}
	if v := e.metric("ezlive_api_request_duration_seconds_count", `{method="GET",route="/jobs/:id"}`); v != "3" {
		t.Errorf("latency observations of GET /jobs/:id: %q, want 3", v)
	}
}

// TestMetricsReadTheStore serves a registry with the jobs collector, as
// ezlive dev does: a job created through the API shows in the next scrape.
func TestMetricsReadTheStore(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(c *apiserver.Config) {
		reg.MustRegister(metrics.NewJobs(c.Store.(*store.Store), nil))
		c.Metrics = reg
	})
	if v := e.metric("ezlive_jobs_by_state", `{state="created"}`); v != "0" {
		t.Fatalf("created jobs before any: %q, want 0", v)
	}
	e.putJob(jobspec.StateCreated)
	if v := e.metric("ezlive_jobs_by_state", `{state="created"}`); v != "1" {
		t.Fatalf("created jobs after one was created: %q, want 1", v)
	}
}
