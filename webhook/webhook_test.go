package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/ezlivestreaming/ezlive/internal/redistest"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/store"
	"github.com/ezlivestreaming/ezlive/webhook"
)

const secret = "s3cret"

// delivery is one request a receiver got.
type delivery struct {
	header  http.Header
	body    []byte
	payload webhook.Payload
}

// receiver is a webhook endpoint on 127.0.0.1 that answers fail(n) for
// its n-th request (from 1) and keeps every request.
type receiver struct {
	t    *testing.T
	url  string
	fail func(n int) bool
	mu   sync.Mutex
	got  []delivery
	more chan struct{}
}

func newReceiver(t *testing.T, fail func(n int) bool) *receiver {
	r := &receiver{t: t, fail: fail, more: make(chan struct{}, 1000)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		d := delivery{header: req.Header.Clone(), body: body}
		if err := json.Unmarshal(body, &d.payload); err != nil {
			t.Errorf("payload %s: %v", body, err)
		}
		r.mu.Lock()
		r.got = append(r.got, d)
		n := len(r.got)
		r.mu.Unlock()
		r.more <- struct{}{}
		if r.fail(n) {
			http.Error(w, "not now", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

// wait returns the first n requests once they have arrived.
func (r *receiver) wait(n int) []delivery {
	r.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		r.mu.Lock()
		if len(r.got) >= n {
			got := append([]delivery(nil), r.got[:n]...)
			r.mu.Unlock()
			return got
		}
		r.mu.Unlock()
		select {
		case <-r.more:
		case <-timeout:
			r.t.Fatalf("receiver got %d requests within 30 s, want %d", len(r.got), n)
		}
	}
}

type fixture struct {
	rdb   *redis.Client
	store *store.Store
}

func newFixture(t *testing.T) *fixture {
	rdb := redistest.Start(t).Client(t)
	return &fixture{rdb: rdb, store: store.New(rdb)}
}

// run starts a dispatcher; the returned func stops it and waits for Run.
func (f *fixture) run(t *testing.T, cfg webhook.Config) (stop func()) {
	t.Helper()
	cfg.Events, cfg.Jobs, cfg.From = f.store, f.store, "0"
	if cfg.Secret == "" {
		cfg.Secret = secret
	}
	if cfg.Poll == 0 {
		cfg.Poll = 100 * time.Millisecond
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	d, err := webhook.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx)
	}()
	stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return stop
}

// job creates a job and moves it through states: len(states)+1 events.
func (f *fixture) job(t *testing.T, id string, states ...jobspec.State) {
	t.Helper()
	ctx := context.Background()
	job := &jobspec.LiveJob{Id: id, StreamKey: "k" + id, Time_created: time.Now()}
	job.SetState(jobspec.StateCreated, "test", time.Now())
	if err := f.store.CreateJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	for _, st := range states {
		if _, err := f.store.UpdateJob(ctx, id, func(j *jobspec.LiveJob) error {
			j.SetState(st, "to "+string(st), time.Now())
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// pending is how many events the group has not acknowledged.
func (f *fixture) pending(t *testing.T) int64 {
	t.Helper()
	p, err := f.rdb.XPending(context.Background(), store.KeyJobEvents, webhook.Group).Result()
	if err != nil {
		t.Fatal(err)
	}
	return p.Count
}

func (f *fixture) waitAcked(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for f.pending(t) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d events still pending after 30 s", f.pending(t))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDeliversSignedEventsInOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rcv := newReceiver(t, func(int) bool { return false })
	reg := prometheus.NewRegistry()
	f.run(t, webhook.Config{URL: rcv.url, Registerer: reg})
	f.job(t, "j1", jobspec.StateScheduled, jobspec.StateRunning)

	got := rcv.wait(3)
	want := []jobspec.State{jobspec.StateCreated, jobspec.StateScheduled, jobspec.StateRunning}
	for i, d := range got {
		if err := webhook.Verify(secret, d.header, d.body, 5*time.Minute, time.Now()); err != nil {
			t.Errorf("delivery %d: %v", i, err)
		}
		p := d.payload
		if p.Type != webhook.TypeStateChanged || p.JobId != "j1" || p.Event.To != want[i] || p.Event.Time.IsZero() {
			t.Errorf("delivery %d: %+v, want j1 to %s", i, p, want[i])
		}
		if p.Job == nil || p.Job.Id != "j1" {
			t.Errorf("delivery %d carries no record of j1", i)
		}
		if p.EventId == "" || d.header.Get(webhook.HeaderEventID) != p.EventId {
			t.Errorf("delivery %d: event id %q, header %q", i, p.EventId, d.header.Get(webhook.HeaderEventID))
		}
	}
	f.waitAcked(t)
	if n := counter(t, reg, "ezlive_webhook_deliveries_total"); n != 3 {
		t.Errorf("deliveries counted %v, want 3", n)
	}
}

// Input loss and restore, outputs failing and restored, are delivered as
// their own payload types, in order with the state changes, and the state
// they name is unchanged.
func TestDeliversInputAndOutputEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rcv := newReceiver(t, func(int) bool { return false })
	f.run(t, webhook.Config{URL: rcv.url})
	f.job(t, "in", jobspec.StateScheduled)
	lostAt := time.Now().Add(-time.Second).Truncate(time.Millisecond)
	const outputErr = "PUT index.m3u8: origin answered 500"
	for _, hb := range []struct {
		lost, failing time.Time
	}{{}, {lost: lostAt}, {}, {failing: lostAt}, {}} {
		if _, err := f.store.RecordHeartbeat(context.Background(), store.HeartbeatReport{
			JobID: "in", Streaming: true, InputLostSince: hb.lost, Time: time.Now(),
			OutputFailingSince: hb.failing, OutputError: map[bool]string{true: outputErr}[!hb.failing.IsZero()]}); err != nil {
			t.Fatal(err)
		}
	}
	want := []struct {
		typ string
		to  jobspec.State
	}{
		{webhook.TypeStateChanged, jobspec.StateCreated},
		{webhook.TypeStateChanged, jobspec.StateScheduled},
		{webhook.TypeStateChanged, jobspec.StateStreaming},
		{webhook.TypeInputLost, jobspec.StateStreaming},
		{webhook.TypeInputRestored, jobspec.StateStreaming},
		{webhook.TypeOutputFailing, jobspec.StateStreaming},
		{webhook.TypeOutputRestored, jobspec.StateStreaming},
	}
	got := rcv.wait(len(want))
	for i, d := range got {
		p := d.payload
		if p.Type != want[i].typ || p.Event.To != want[i].to || p.JobId != "in" {
			t.Errorf("delivery %d: %s to %s, want %s to %s", i, p.Type, p.Event.To, want[i].typ, want[i].to)
		}
		onset := p.Type == webhook.TypeInputLost || p.Type == webhook.TypeOutputFailing
		if onset && (!p.Event.Time.Equal(lostAt) || p.Event.From != jobspec.StateStreaming) {
			t.Errorf("%s %+v, want at %v with the state unchanged", p.Type, p.Event, lostAt)
		}
		if p.Type == webhook.TypeOutputFailing && !strings.Contains(p.Event.Reason, outputErr) {
			t.Errorf("output_failing reason %q does not name the error %q", p.Event.Reason, outputErr)
		}
	}
	f.waitAcked(t)
}

func TestRetriesUntilReceiverRecovers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rcv := newReceiver(t, func(n int) bool { return n <= 2 })
	reg := prometheus.NewRegistry()
	f.run(t, webhook.Config{URL: rcv.url, Registerer: reg, MinBackoff: 10 * time.Millisecond})
	f.job(t, "j1")

	got := rcv.wait(3)
	for i, d := range got {
		if d.payload.JobId != "j1" || string(d.body) != string(got[0].body) {
			t.Errorf("attempt %d sent %s, want the first attempt's body %s", i, d.body, got[0].body)
		}
	}
	f.waitAcked(t)
	if n := counter(t, reg, "ezlive_webhook_attempt_failures_total"); n != 2 {
		t.Errorf("failed attempts counted %v, want 2", n)
	}
	if n := counter(t, reg, "ezlive_webhook_deliveries_total"); n != 1 {
		t.Errorf("deliveries counted %v, want 1", n)
	}
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rcv := newReceiver(t, func(int) bool { return true })
	reg := prometheus.NewRegistry()
	f.run(t, webhook.Config{URL: rcv.url, Registerer: reg, MinBackoff: 10 * time.Millisecond, MaxAttempts: 3})
	f.job(t, "j1")
	rcv.wait(3)
	f.waitAcked(t)
	if n := counter(t, reg, "ezlive_webhook_abandoned_total"); n != 1 {
		t.Errorf("abandoned counted %v, want 1", n)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.got) != 3 {
		t.Errorf("receiver got %d attempts, want 3", len(rcv.got))
	}
}

// TestTakesOverFromDeadDispatcher stops a dispatcher while it retries an
// event; a second one, finding the event idle, delivers it.
func TestTakesOverFromDeadDispatcher(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	down := newReceiver(t, func(int) bool { return true })
	stopFirst := f.run(t, webhook.Config{URL: down.url, Consumer: "first", MinBackoff: time.Hour, ClaimIdle: time.Hour})
	f.job(t, "j1")
	first := down.wait(1)[0]
	stopFirst() // dies with the event pending
	if n := f.pending(t); n != 1 {
		t.Fatalf("%d events pending after the first dispatcher died, want 1", n)
	}

	up := newReceiver(t, func(int) bool { return false })
	f.run(t, webhook.Config{URL: up.url, Consumer: "second", ClaimIdle: 200 * time.Millisecond})
	got := up.wait(1)[0]
	if got.payload.EventId != first.payload.EventId || got.payload.JobId != "j1" {
		t.Fatalf("second dispatcher delivered %+v, want event %s", got.payload, first.payload.EventId)
	}
	f.waitAcked(t)
}

func TestVerify(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"Type":"job.state_changed"}`)
	ts := "1700000000"
	signed := func(secret, ts string) http.Header {
		h := http.Header{}
		h.Set(webhook.HeaderTimestamp, ts)
		h.Set(webhook.HeaderSignature, webhook.Sign(secret, ts, body))
		return h
	}
	tests := []struct {
		name   string
		header http.Header
		body   []byte
		ok     bool
	}{
		{"valid", signed(secret, ts), body, true},
		{"other secret", signed("nope", ts), body, false},
		{"changed body", signed(secret, ts), []byte(`{"Type":"x"}`), false},
		{"stale", signed(secret, "1699999000"), body, false},
		{"no timestamp", http.Header{webhook.HeaderSignature: {webhook.Sign(secret, ts, body)}}, body, false},
	}
	for _, tt := range tests {
		err := webhook.Verify(secret, tt.header, tt.body, 5*time.Minute, now)
		if (err == nil) != tt.ok {
			t.Errorf("%s: Verify = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

// counter returns the value of an unlabelled counter of reg.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
