package nomadtest

import (
	"encoding/json"
	"net/http"
	"reflect"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/nomad/api"
)

func (s *Server) registerJob(w http.ResponseWriter, r *http.Request) {
	var req api.JobRegisterRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, badRequest("decode job: %v", err))
		return
	}
	if err := validateJob(req.Job); err != nil {
		writeError(w, err)
		return
	}
	s.mu.Lock()
	resp := s.register(req.Job)
	index := s.index
	s.mu.Unlock()
	writeJSON(w, index, resp)
}

func validateJob(job *api.Job) error {
	if job == nil || job.ID == nil || *job.ID == "" {
		return badRequest("1 error occurred:\n\t* Missing job ID")
	}
	if len(job.TaskGroups) == 0 {
		return badRequest("1 error occurred:\n\t* Missing job task groups")
	}
	for _, tg := range job.TaskGroups {
		if len(tg.Tasks) == 0 {
			return badRequest("1 error occurred:\n\t* Missing tasks for task group")
		}
		// Nomad would place replacements while a node is disconnected, or
		// stop allocations on the client; this server does neither, so it
		// refuses rather than be kinder than Nomad. replace defaults to true.
		if d := tg.Disconnect; d != nil && (d.Replace == nil || *d.Replace || d.StopOnClientAfter != nil) {
			return badRequest("nomadtest models disconnect blocks with replace = false and no stop_on_client_after only")
		}
	}
	return nil
}

// register stores a new version of the job when its spec changed and queues
// an evaluation, as Nomad does for every registration.
func (s *Server) register(in *api.Job) *api.JobRegisterResponse {
	job := clone(in)
	job.Stop = new(false)
	job.Canonicalize()
	js := s.jobs[*job.ID]
	index := s.bump()
	switch {
	case js == nil:
		js = &jobState{}
		s.jobs[*job.ID] = js
		job.Version = new(uint64(0))
		job.CreateIndex = new(index)
		job.JobModifyIndex = new(index)
	case specChanged(js.job, job):
		job.Version = new(*js.job.Version + 1)
		job.CreateIndex = js.job.CreateIndex
		job.JobModifyIndex = new(index)
	default:
		job = js.job
	}
	job.ModifyIndex = new(index)
	job.SubmitTime = new(time.Now().UnixNano())
	js.job = job
	s.setJobStatus(js)
	s.publish(jobEvent("JobRegistered", job))
	ev := s.newEval(job, "job-register")
	return &api.JobRegisterResponse{
		EvalID:          ev.ID,
		EvalCreateIndex: ev.CreateIndex,
		JobModifyIndex:  *job.JobModifyIndex,
	}
}

// specChanged compares what the user submitted, not what the server added.
func specChanged(old, new *api.Job) bool {
	strip := func(j *api.Job) *api.Job {
		c := clone(j)
		c.Status, c.StatusDescription, c.Stable, c.Version = nil, nil, nil, nil
		c.SubmitTime, c.CreateIndex, c.ModifyIndex, c.JobModifyIndex = nil, nil, nil, nil
		return c
	}
	return !reflect.DeepEqual(strip(old), strip(new))
}

func (s *Server) newEval(job *api.Job, trigger string) *api.Evaluation {
	index := s.index
	now := time.Now().UnixNano()
	ev := &api.Evaluation{
		ID:             uuid.NewString(),
		Priority:       *job.Priority,
		Type:           *job.Type,
		TriggeredBy:    trigger,
		Namespace:      *job.Namespace,
		JobID:          *job.ID,
		JobModifyIndex: *job.JobModifyIndex,
		Status:         "pending",
		CreateIndex:    index,
		ModifyIndex:    index,
		CreateTime:     now,
		ModifyTime:     now,
	}
	s.evals[ev.ID] = ev
	js := s.jobs[*job.ID]
	js.evals = append(js.evals, ev.ID)
	// Nomad's schedulers work asynchronously: the caller sees a pending
	// evaluation and must wait for it, as the driver does.
	if s.closed {
		return ev
	}
	s.runners.Add(1)
	go func() {
		defer s.runners.Done()
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.closed {
			s.process(ev)
		}
	}()
	return ev
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	withMeta := boolParam(r, "meta")
	s.query(w, r, func() (any, error) {
		out := []*api.JobListStub{}
		for _, id := range sortedKeys(s.jobs) {
			if !hasPrefix(r, id) {
				continue
			}
			out = append(out, s.jobStub(s.jobs[id].job, withMeta))
		}
		return out, nil
	})
}

func (s *Server) jobStub(j *api.Job, withMeta bool) *api.JobListStub {
	stub := &api.JobListStub{
		ID: *j.ID, Name: *j.Name, Namespace: *j.Namespace, Datacenters: j.Datacenters,
		Type: *j.Type, Priority: *j.Priority, Stop: *j.Stop, Status: *j.Status,
		StatusDescription: *j.StatusDescription, CreateIndex: *j.CreateIndex,
		ModifyIndex: *j.ModifyIndex, JobModifyIndex: *j.JobModifyIndex, SubmitTime: *j.SubmitTime,
	}
	if withMeta {
		stub.Meta = j.Meta
	}
	return stub
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	s.query(w, r, func() (any, error) {
		js := s.jobs[r.PathValue("id")]
		if js == nil {
			return nil, notFound("job")
		}
		return js.job, nil
	})
}

// deregisterJob stops the job (its allocations are told to stop); with
// purge=true it also removes the job at once, as `nomad job stop -purge`.
func (s *Server) deregisterJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	purge := boolParam(r, "purge")
	s.mu.Lock()
	defer s.mu.Unlock()
	js := s.jobs[id]
	if js == nil {
		writeError(w, notFound("job"))
		return
	}
	index := s.bump()
	if !*js.job.Stop {
		js.job.Version = new(*js.job.Version + 1) // a stop is a new version (observed on v2.0.5)
	}
	js.job.Stop = new(true)
	js.job.ModifyIndex = new(index)
	js.job.JobModifyIndex = new(index)
	ev := s.newEval(js.job, "job-deregister")
	ev.Type = "service" // job_endpoint.go, Deregister
	if purge {
		for _, aid := range js.allocs {
			s.stopAlloc(s.allocs[aid], "alloc not needed since job was purged")
		}
		delete(s.jobs, id)
	}
	s.setJobStatus(js)
	ev2 := jobEvent("JobDeregistered", js.job)
	ev2.Payload["Deleted"] = purge
	s.publish(ev2)
	writeJSON(w, s.index, &api.JobDeregisterResponse{
		EvalID: ev.ID, EvalCreateIndex: ev.CreateIndex, JobModifyIndex: *js.job.JobModifyIndex,
	})
}

func (s *Server) jobAllocations(w http.ResponseWriter, r *http.Request) {
	s.query(w, r, func() (any, error) {
		js := s.jobs[r.PathValue("id")]
		if js == nil {
			return []*api.AllocationListStub{}, nil
		}
		out := []*api.AllocationListStub{}
		for _, aid := range js.allocs {
			out = append(out, s.allocs[aid].stub())
		}
		return out, nil
	})
}

func (s *Server) jobEvaluations(w http.ResponseWriter, r *http.Request) {
	s.query(w, r, func() (any, error) {
		js := s.jobs[r.PathValue("id")]
		if js == nil {
			return nil, notFound("job")
		}
		out := []*api.Evaluation{}
		for _, eid := range js.evals {
			out = append(out, s.evals[eid])
		}
		return out, nil
	})
}

func (s *Server) getEvaluation(w http.ResponseWriter, r *http.Request) {
	s.query(w, r, func() (any, error) {
		ev := s.evals[r.PathValue("id")]
		if ev == nil {
			return nil, notFound("eval")
		}
		return ev, nil
	})
}

// setJobStatus derives the job's status as Nomad does (state_store.go,
// getJobStatus): running while an allocation is neither desired to stop nor
// finished, pending while an evaluation is not (a blocked one or a delayed
// disconnect timeout), dead after that. An unknown allocation desired to
// stop therefore leaves a stopped job pending, then dead (FACTS.md §D).
func (s *Server) setJobStatus(js *jobState) {
	status := "dead"
	for _, eid := range js.evals {
		if st := s.evals[eid].Status; st != "complete" && st != "failed" && st != "canceled" {
			status = "pending"
		}
	}
	if len(js.evals) == 0 && !*js.job.Stop {
		status = "pending"
	}
	for _, aid := range js.allocs {
		if a := s.allocs[aid].alloc; a.DesiredStatus == api.AllocDesiredStatusRun && !a.ClientTerminalStatus() {
			status = "running"
		}
	}
	js.job.Status = new(status)
}
