package apiserver_test

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ezlivestreaming/ezlive/client"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/queue"
)

type action struct {
	method, suffix string
	verb           queue.Verb
}

var (
	stopAction   = action{"PUT", "/stop", queue.Stop}
	resumeAction = action{"PUT", "/resume", queue.Resume}
	deleteAction = action{"DELETE", "", queue.Delete}
)

// TestTransitions tries every user action from every state: the allowed ones
// answer 202, move the job and send one command; the others answer 409
// naming the current state and change and send nothing.
func TestTransitions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const accepted, conflict = http.StatusAccepted, http.StatusConflict
	S := struct{ created, scheduled, running, streaming, stopping, stopped, failed, deleting jobspec.State }{
		jobspec.StateCreated, jobspec.StateScheduled, jobspec.StateRunning, jobspec.StateStreaming,
		jobspec.StateStopping, jobspec.StateStopped, jobspec.StateFailed, jobspec.StateDeleting,
	}
	cases := []struct {
		from   jobspec.State
		act    action
		status int
		to     jobspec.State
	}{
		{S.created, stopAction, accepted, S.stopping},
		{S.scheduled, stopAction, accepted, S.stopping},
		{S.running, stopAction, accepted, S.stopping},
		{S.streaming, stopAction, accepted, S.stopping},
		{S.failed, stopAction, accepted, S.stopping},
		{S.stopping, stopAction, accepted, S.stopping}, // already under way: sent again
		{S.stopped, stopAction, conflict, S.stopped},
		{S.deleting, stopAction, conflict, S.deleting},

		{S.stopped, resumeAction, accepted, S.created},
		{S.failed, resumeAction, accepted, S.created},
		{S.created, resumeAction, conflict, S.created},
		{S.scheduled, resumeAction, conflict, S.scheduled},
		{S.running, resumeAction, conflict, S.running},
		{S.streaming, resumeAction, conflict, S.streaming},
		{S.stopping, resumeAction, conflict, S.stopping},
		{S.deleting, resumeAction, conflict, S.deleting},

		{S.stopped, deleteAction, accepted, S.deleting},
		{S.failed, deleteAction, accepted, S.deleting},
		{S.deleting, deleteAction, accepted, S.deleting}, // already under way: sent again
		{S.created, deleteAction, conflict, S.created},
		{S.scheduled, deleteAction, conflict, S.scheduled},
		{S.running, deleteAction, conflict, S.running},
		{S.streaming, deleteAction, conflict, S.streaming},
		{S.stopping, deleteAction, conflict, S.stopping},
	}
	for _, c := range cases {
		name := fmt.Sprintf("%s %s from %s", c.act.method, c.act.suffix, c.from)
		job := e.putJob(c.from)
		a := e.do(c.act.method, "/jobs/"+job.Id+c.act.suffix, nil).want(t, c.status)
		cmds := e.commands()
		if c.status == conflict {
			p := a.problem(t)
			if p.State != c.from || !strings.Contains(p.Detail, string(c.from)) || p.Code != jobspec.ECONFLICT {
				t.Errorf("%s: problem %+v does not name state %s", name, p, c.from)
			}
			if len(cmds) != 0 {
				t.Errorf("%s: sent %+v on a conflict", name, cmds)
			}
		} else {
			if got := a.job(t); got.State != c.to {
				t.Errorf("%s: answered state %s, want %s", name, got.State, c.to)
			}
			if len(cmds) != 1 || cmds[0].Verb != c.act.verb || cmds[0].JobID != job.Id {
				t.Errorf("%s: commands %+v, want one %s", name, cmds, c.act.verb)
			}
		}
		stored, err := e.store.Job(ctxT(t), job.Id)
		if err != nil {
			t.Fatal(err)
		}
		if stored.State != c.to {
			t.Errorf("%s: stored state %s, want %s", name, stored.State, c.to)
		}
	}
}

func TestTransitionReasons(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	job := e.putJob(jobspec.StateRunning)
	stopped, err := e.client.Stop(ctx, job.Id)
	if err != nil {
		t.Fatal(err)
	}
	if stopped.State_reason != "stop requested by user" {
		t.Errorf("stop reason %q", stopped.State_reason)
	}

	// A failed job with a placement and stats resumes afresh, keeping its
	// identity.
	failed, err := e.store.UpdateJob(ctx, job.Id, func(j *jobspec.LiveJob) error {
		j.SetState(jobspec.StateFailed, "node lost", time.Now().UTC())
		j.Assigned_worker_id, j.Placement_attempts = "node-1", 3
		j.Stats = &jobspec.Stats{Fps: 25}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	resumed, err := e.client.Resume(ctx, job.Id)
	if err != nil {
		t.Fatal(err)
	}
	if resumed.State != jobspec.StateCreated || resumed.State_reason != "resumed by user" ||
		resumed.Assigned_worker_id != "" || resumed.Placement_attempts != 0 || resumed.Stats != nil {
		t.Errorf("resumed job %+v", resumed)
	}
	if resumed.Id != failed.Id || resumed.StreamKey != failed.StreamKey || !reflect.DeepEqual(resumed.Spec, failed.Spec) {
		t.Errorf("resume changed the job's identity: %+v, was %+v", resumed, failed)
	}
	last := resumed.Events[len(resumed.Events)-1]
	if last.From != jobspec.StateFailed || last.To != jobspec.StateCreated {
		t.Errorf("last event %+v", last)
	}

	_, err = e.client.Delete(ctx, job.Id)
	var ae *client.APIError
	if !client.IsStatus(err, http.StatusConflict) || !asAPIError(err, &ae) || ae.State != jobspec.StateCreated {
		t.Errorf("delete of a created job: %v", err)
	}
}

func asAPIError(err error, target **client.APIError) bool {
	ae, ok := err.(*client.APIError)
	*target = ae
	return ok
}

func TestTransitionUnknownJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, id := range []string{uuid.Must(uuid.NewV7()).String(), "nope"} {
		for _, act := range []action{stopAction, resumeAction, deleteAction} {
			e.do(act.method, "/jobs/"+id+act.suffix, nil).want(t, http.StatusNotFound).problem(t)
		}
	}
	if got := e.commands(); len(got) != 0 {
		t.Errorf("commands %+v for unknown jobs", got)
	}
}

// TestConcurrentStopResume races users' stops and resumes against a
// scheduler that completes stops: no update may be lost, so the history is
// one unbroken chain and every accepted request left exactly its mark.
func TestConcurrentStopResume(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	job := e.putJob(jobspec.StateStopped)

	var stops, resumes atomic.Int64
	done := make(chan struct{})
	schedulerDone := make(chan struct{})
	go func() { // the scheduler: stopping → stopped
		defer close(schedulerDone)
		for {
			select {
			case <-done:
				return
			default:
			}
			e.store.UpdateJob(ctx, job.Id, func(j *jobspec.LiveJob) error {
				if j.State == jobspec.StateStopping {
					j.SetState(jobspec.StateStopped, "transcoder stopped", time.Now().UTC())
				}
				return nil
			})
			time.Sleep(time.Millisecond) // not a timing assertion: keeps the loop off the CPU
		}
	}()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 10 {
				var err error
				if (w+i)%2 == 0 {
					if _, err = e.client.Stop(ctx, job.Id); err == nil {
						stops.Add(1)
					}
				} else if _, err = e.client.Resume(ctx, job.Id); err == nil {
					resumes.Add(1)
				}
				if err != nil && !client.IsStatus(err, http.StatusConflict) {
					t.Errorf("unexpected error: %v", err)
				}
			}
		})
	}
	wg.Wait()
	close(done)
	<-schedulerDone

	final, err := e.store.Job(ctx, job.Id)
	if err != nil {
		t.Fatal(err)
	}
	var resumeEvents, stopEvents int64
	for i, ev := range final.Events {
		if i > 0 && ev.From != final.Events[i-1].To {
			t.Errorf("event %d %+v does not follow %+v: an update was lost", i, ev, final.Events[i-1])
		}
		switch ev.Reason {
		case "resumed by user":
			resumeEvents++
		case "stop requested by user":
			stopEvents++
		}
	}
	if last := final.Events[len(final.Events)-1]; last.To != final.State {
		t.Errorf("state %s, last event %+v", final.State, last)
	}
	if resumeEvents != resumes.Load() || resumes.Load() == 0 {
		t.Errorf("%d resumes accepted, %d recorded", resumes.Load(), resumeEvents)
	}
	// A stop of a job already stopping is accepted without a new event.
	if stopEvents > stops.Load() || stopEvents == 0 {
		t.Errorf("%d stops accepted, %d recorded", stops.Load(), stopEvents)
	}
	cmds := e.commands()
	if int64(len(cmds)) != stops.Load()+resumes.Load() {
		t.Errorf("%d commands sent for %d accepted requests", len(cmds), stops.Load()+resumes.Load())
	}
}
