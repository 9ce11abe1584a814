package apiserver_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ezlivestreaming/ezlive/apiserver"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/queue"
)

// TestRedisDown kills Redis under a running API: job routes answer 503 and
// readiness names what is down, while liveness stays up.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	job := e.putJob(jobspec.StateRunning)
	e.redis.Stop()

	for _, r := range []struct{ method, path string }{
		{"GET", "/jobs/" + job.Id}, {"GET", "/jobs"}, {"GET", "/jobs/active"},
		{"POST", "/jobs"}, {"PUT", "/jobs/" + job.Id + "/stop"}, {"DELETE", "/jobs/" + job.Id},
	} {
		var body []byte
		if r.method == "POST" {
			body = sampleSpec(t)
		}
		p := e.do(r.method, r.path, body).want(t, http.StatusServiceUnavailable).problem(t)
		if p.Code != jobspec.EUNAVAILABLE {
			t.Errorf("%s %s: problem %+v", r.method, r.path, p)
		}
	}
	p := e.do("GET", "/readyz", nil).want(t, http.StatusServiceUnavailable).problem(t)
	if !strings.Contains(p.Detail, "redis") || p.Checks["redis"] == "ok" || p.Checks["queue"] == "ok" {
		t.Errorf("readyz problem %+v does not name what is down", p)
	}
	e.do("GET", "/healthz", nil).want(t, http.StatusOK)
}

// switchSender fails every Send while failing is set.
type switchSender struct {
	queue.Queue
	failing atomic.Bool
}

func (s *switchSender) Send(ctx context.Context, c queue.Command) error {
	if s.failing.Load() {
		return errors.New("queue down")
	}
	return s.Queue.Send(ctx, c)
}

func (s *switchSender) Ping(ctx context.Context) error {
	if s.failing.Load() {
		return errors.New("queue down")
	}
	return s.Queue.Ping(ctx)
}

// TestSendFailure: a create whose command cannot be sent leaves nothing
// stored; a state change whose command cannot be sent answers 503, keeps the
// new state (the reconcile loop acts on it) and accepts the retry.
func TestSendFailure(t *testing.T) {
	t.Parallel()
	sender := &switchSender{}
	e := newEnv(t, func(c *apiserver.Config) {
		sender.Queue = c.Queue.(queue.Queue)
		c.Queue = sender
	})
	sender.failing.Store(true)
	p := e.do("POST", "/jobs", sampleSpec(t)).want(t, http.StatusServiceUnavailable).problem(t)
	if p.Code != jobspec.EUNAVAILABLE || !strings.Contains(p.Detail, "queue") {
		t.Errorf("problem %+v", p)
	}
	e.wantNothingStored()
	p = e.do("GET", "/readyz", nil).want(t, http.StatusServiceUnavailable).problem(t)
	if p.Detail != "not ready: queue down" || p.Checks["redis"] != "ok" || p.Checks["queue"] != "queue down" {
		t.Errorf("readyz problem %+v", p)
	}

	sender.failing.Store(false)
	job := e.putJob(jobspec.StateRunning)
	sender.failing.Store(true)
	e.do("PUT", "/jobs/"+job.Id+"/stop", nil).want(t, http.StatusServiceUnavailable).problem(t)
	stored, err := e.store.Job(ctxT(t), job.Id)
	if err != nil || stored.State != jobspec.StateStopping {
		t.Fatalf("after a failed send the job is %v (%v), want stopping", stored.State, err)
	}
	sender.failing.Store(false)
	e.do("PUT", "/jobs/"+job.Id+"/stop", nil).want(t, http.StatusAccepted)
	if cmds := e.commands(); len(cmds) != 1 || cmds[0].Verb != queue.Stop {
		t.Errorf("commands %+v, want the retried stop", cmds)
	}
}
