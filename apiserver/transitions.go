package apiserver

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/queue"
)

// transition is a user's request to move a job: from which states it is
// allowed, the state it leads to, and the command that makes the schedulers
// act on it.
type transition struct {
	verb   queue.Verb
	from   []jobspec.State
	to     jobspec.State
	reason string
	// again, when set, is the state in which the request is already in
	// progress: it is accepted once more and its command sent again (a
	// client retrying after a 503 must not get a 409).
	again jobspec.State
	// prepare makes the changes besides the state.
	prepare func(*jobspec.LiveJob)
}

var (
	stopping = transition{
		verb:   queue.Stop,
		from:   []jobspec.State{jobspec.StateCreated, jobspec.StateScheduled, jobspec.StateRunning, jobspec.StateStreaming, jobspec.StateFailed},
		to:     jobspec.StateStopping,
		reason: "stop requested by user",
		again:  jobspec.StateStopping,
	}
	// resuming keeps Id, StreamKey and Spec; the placement starts afresh.
	resuming = transition{
		verb:   queue.Resume,
		from:   []jobspec.State{jobspec.StateStopped, jobspec.StateFailed},
		to:     jobspec.StateCreated,
		reason: "resumed by user",
		prepare: func(j *jobspec.LiveJob) {
			j.Assigned_worker_id = ""
			j.Placement_attempts = 0
			j.Stats = nil
		},
	}
	// deleting is seen by the origin, which removes the job's outputs, and
	// by the schedulers, which forget its content keys and remove the record.
	deleting = transition{
		verb:   queue.Delete,
		from:   []jobspec.State{jobspec.StateStopped, jobspec.StateFailed},
		to:     jobspec.StateDeleting,
		reason: "delete requested by user",
		again:  jobspec.StateDeleting,
	}
)

func (s *Server) stopJob(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	return s.moveAndAnswer(w, r, ps.ByName("id"), stopping)
}

// resumeJob moves a job back to created, where it may wait in the queue:
// the queue's limit applies (the job is counted in its client's quota
// already).
func (s *Server) resumeJob(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	if err := s.cfg.Store.QueueRoom(r.Context(), s.cfg.MaxQueued); err != nil {
		return err
	}
	return s.moveAndAnswer(w, r, ps.ByName("id"), resuming)
}

// deletedJobView is the answer of DELETE /jobs/:id?keep_recordings=true:
// the job, and the recordings that outlive it.
type deletedJobView struct {
	*jobspec.LiveJob
	Kept_recordings []recordingView `json:"Kept_recordings"`
}

// deleteJob deletes a job, with its recordings unless keep_recordings=true
// asks to keep them: the job then stays a kept job (store.KeptJob) whose
// recordings are listed, played, clipped and deleted as before. The first
// request decides; a repeat answers the job as it is.
func (s *Server) deleteJob(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	keep, err := s.keepRecordingsParam(r.URL.Query())
	if err != nil {
		return err
	}
	t := deleting
	if keep {
		t.prepare = func(j *jobspec.LiveJob) { j.Keep_recordings = true }
	}
	job, err := s.move(r, ps.ByName("id"), t)
	if err != nil || !job.Keep_recordings {
		return answerMoved(w, job, err)
	}
	kept, err := s.recordingViews(r.Context(), job)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, deletedJobView{job, kept})
}

// keepRecordingsParam reads DELETE /jobs/:id's keep_recordings, a flag
// (flagParam) that an API without recording routes refuses.
func (s *Server) keepRecordingsParam(v url.Values) (bool, error) {
	keep, bad := flagParam(v, "keep_recordings")
	if keep && s.cfg.Recordings == nil {
		bad = &jobspec.FieldError{Field: "keep_recordings", Message: "this API serves no recordings"}
	}
	if bad != nil {
		return false, &jobspec.Error{Code: jobspec.EINVALID, Message: "invalid query", Fields: []jobspec.FieldError{*bad}}
	}
	return keep, nil
}

// moveAndAnswer moves the job and answers it.
func (s *Server) moveAndAnswer(w http.ResponseWriter, r *http.Request, id string, t transition) error {
	job, err := s.move(r, id, t)
	return answerMoved(w, job, err)
}

// answerMoved answers a job move returned.
func answerMoved(w http.ResponseWriter, job *jobspec.LiveJob, err error) error {
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, job)
}

// move changes the job's state atomically, then sends the command. If the
// send fails the answer is 503 but the new state stays: the scheduler's
// reconcile loop acts on states, so the request is not lost, and a retry is
// accepted (see transition.again) or answered 409 naming the state reached.
func (s *Server) move(r *http.Request, id string, t transition) (*jobspec.LiveJob, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	job, err := s.cfg.Store.UpdateJob(r.Context(), id, func(j *jobspec.LiveJob) error {
		return t.apply(j, time.Now().UTC())
	})
	if err != nil {
		return nil, err
	}
	if err := s.send(r.Context(), t.verb, id, fmt.Sprintf("job %s is now %s, but the command queue is unavailable; "+
		"the change stands and the schedulers will act on it", id, job.State)); err != nil {
		return nil, err
	}
	return job, nil
}

// apply moves j, or says why it cannot be moved.
func (t transition) apply(j *jobspec.LiveJob, now time.Time) error {
	switch {
	case t.again != "" && j.State == t.again:
		return nil
	case slices.Contains(t.from, j.State):
		j.SetState(t.to, t.reason, now)
		if t.prepare != nil {
			t.prepare(j)
		}
		return nil
	}
	return &conflictError{state: j.State,
		msg: fmt.Sprintf("cannot %s job %s: it is %s (allowed when %s)", t.verb, j.Id, j.State, joinStates(t.allowed()))}
}

func (t transition) allowed() []jobspec.State {
	if t.again == "" {
		return t.from
	}
	return append(slices.Clone(t.from), t.again)
}
