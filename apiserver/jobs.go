package apiserver

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/julienschmidt/httprouter"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/playback"
	"github.com/ezlivestreaming/ezlive/queue"
	"github.com/ezlivestreaming/ezlive/store"
)

// Listing limits.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// createJob validates the spec, stores the job and asks the schedulers to
// place it. If the command cannot be sent the job is removed again, so a 503
// leaves nothing behind; if even that fails, the scheduler's reconcile loop
// finds the stored job in state created and places it.
func (s *Server) createJob(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	dryRun, badParam := flagParam(r.URL.Query(), "dry_run")
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return fmt.Errorf("read request body: %w", err)
	}
	spec, warnings, err := jobspec.Parse(body)
	if err = joinInvalid(err, badParam); err != nil {
		return err
	}
	job, err := s.newJob(spec, warnings, time.Now().UTC())
	if err != nil {
		return err
	}
	noteJobID(r, job.Id)
	if dryRun || bool(spec.Api_test) {
		return writeJSON(w, http.StatusOK, job)
	}
	if err := s.cfg.Store.CreateJobWithin(r.Context(), job, s.admission(r)); err != nil {
		return err
	}
	if err := s.send(r.Context(), queue.Create, job.Id, "the command queue is unavailable; try again"); err != nil {
		s.undoCreate(r, job.Id)
		return err
	}
	w.Header().Set("Location", "/jobs/"+job.Id)
	return writeJSON(w, http.StatusCreated, job)
}

// undoCreate removes a job whose create command could not be sent.
func (s *Server) undoCreate(r *http.Request, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if err := s.cfg.Store.DeleteJob(ctx, id); err != nil {
		s.log.Error("remove job whose create command was not sent; the reconcile loop will place it",
			"job_id", id, "err", err)
	}
}

// newJob builds the record of a new live job from a valid spec.
func (s *Server) newJob(spec jobspec.Spec, warnings []string, now time.Time) (*jobspec.LiveJob, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("new job id: %w", err)
	}
	if warnings == nil {
		warnings = []string{}
	}
	job := &jobspec.LiveJob{
		Id:                      id.String(),
		Spec:                    spec,
		Job_validation_warnings: warnings,
		Time_created:            now,
		Ingest_gateway:          s.cfg.IngestGateway,
		Ingest_gateway_srt:      s.cfg.IngestGatewaySRT,
	}
	rekey(job)
	job.Playback_urls = s.playbackURLs(spec, "live/"+job.Id)
	job.Playback_url = first(job.Playback_urls)
	job.Thumbnail_url = s.thumbnailURL(spec, "live/"+job.Id)
	job.SetState(jobspec.StateCreated, "created by API", now)
	return job, nil
}

// getJob answers one job, or the active jobs for /jobs/active.
func (s *Server) getJob(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	id := ps.ByName("id")
	if id == "active" {
		noteJobID(r, "")
		return s.listActive(w, r, ps)
	}
	if err := checkID(id); err != nil {
		return err
	}
	job, err := s.cfg.Store.JobJSON(r.Context(), id)
	if err != nil {
		return err
	}
	return writeRaw(w, http.StatusOK, job)
}

// thumbnail redirects to the job's latest frame at the origin, where a CDN
// can serve it; a signed job's, under a viewer token of the shortest
// lifetime. A job without video, or with DRM, has none.
func (s *Server) thumbnail(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	job, err := s.lookupJob(r.Context(), ps.ByName("id"))
	if err != nil {
		return err
	}
	url := job.Thumbnail_url
	if url == "" {
		return jobspec.Errorf(jobspec.ENOTFOUND, "job %s has no thumbnail: it has no video, or it is protected by DRM", job.Id)
	}
	folder, signed, err := s.signedFolder(r.Context(), job, playback.MinTTL)
	if err != nil {
		return err
	}
	if signed {
		url = s.thumbnailURL(job.Spec, folder)
	}
	w.Header().Set("Location", url)
	w.WriteHeader(http.StatusTemporaryRedirect)
	return nil
}

// lookupJob loads a job. A job being deleted is shown in state deleting
// until its record is gone: its outputs may still be served until then.
func (s *Server) lookupJob(ctx context.Context, id string) (*jobspec.LiveJob, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	return s.cfg.Store.Job(ctx, id)
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	q, err := parseListQuery(r.URL.Query(), true)
	if err != nil {
		return err
	}
	return s.list(w, r, "/jobs", q)
}

func (s *Server) listActive(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	q, err := parseListQuery(r.URL.Query(), false)
	if err != nil {
		return err
	}
	q.states = []jobspec.State{jobspec.StateCreated, jobspec.StateScheduled, jobspec.StateRunning, jobspec.StateStreaming}
	return s.list(w, r, "/jobs/active", q)
}

// list answers one page of jobs, and a Link to the next when there is one.
func (s *Server) list(w http.ResponseWriter, r *http.Request, path string, q listQuery) error {
	jobs, next, err := s.cfg.Store.ListJobsJSON(r.Context(), store.ListOptions{States: q.states, Limit: q.limit, Cursor: q.cursor})
	if err != nil {
		return err
	}
	if next != "" {
		v := url.Values{"cursor": {next}, "limit": {strconv.Itoa(q.limit)}}
		if q.stateParam != "" {
			v.Set("state", q.stateParam)
		}
		w.Header().Set("Link", "<"+path+"?"+v.Encode()+`>; rel="next"`)
	}
	return writeRaw(w, http.StatusOK, jobs)
}

type listQuery struct {
	states     []jobspec.State
	stateParam string
	limit      int
	cursor     string
}

// listableStates are the states ?state= may name: every state.
var listableStates = []jobspec.State{
	jobspec.StateCreated, jobspec.StateScheduled, jobspec.StateRunning, jobspec.StateStreaming,
	jobspec.StateStopping, jobspec.StateStopped, jobspec.StateFailed, jobspec.StateDeleting,
}

// parseListQuery reads state, limit and cursor, naming every bad one.
func parseListQuery(v url.Values, stateFilter bool) (listQuery, error) {
	q := listQuery{limit: DefaultListLimit, cursor: v.Get("cursor"), stateParam: v.Get("state")}
	var bad []jobspec.FieldError
	if q.stateParam != "" && !stateFilter {
		bad = append(bad, jobspec.FieldError{Field: "state", Message: "the active list takes no state filter; use GET /jobs?state="})
	}
	if q.stateParam != "" && stateFilter {
		for _, name := range strings.Split(q.stateParam, ",") {
			st := jobspec.State(strings.TrimSpace(name))
			if !slices.Contains(listableStates, st) {
				bad = append(bad, jobspec.FieldError{Field: "state",
					Message: fmt.Sprintf("%q is not one of %s", name, joinStates(listableStates))})
				continue
			}
			if !slices.Contains(q.states, st) {
				q.states = append(q.states, st)
			}
		}
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxListLimit {
			bad = append(bad, jobspec.FieldError{Field: "limit",
				Message: fmt.Sprintf("%q is not a whole number from 1 to %d", s, MaxListLimit)})
		} else {
			q.limit = n
		}
	}
	if len(bad) > 0 {
		return q, &jobspec.Error{Code: jobspec.EINVALID, Message: "invalid query", Fields: bad}
	}
	return q, nil
}

func joinStates(states []jobspec.State) string {
	parts := make([]string, len(states))
	for i, st := range states {
		parts[i] = string(st)
	}
	return strings.Join(parts, ", ")
}

// flagParam reads a boolean query parameter: 1/true or 0/false.
func flagParam(v url.Values, name string) (bool, *jobspec.FieldError) {
	switch s := v.Get(name); s {
	case "", "0", "false":
		return false, nil
	case "1", "true":
		return true, nil
	default:
		return false, &jobspec.FieldError{Field: name, Message: fmt.Sprintf("%q is not 1, 0, true or false", s)}
	}
}

// joinInvalid adds a bad query parameter to the body's validation error, so
// one answer names every bad field.
func joinInvalid(err error, bad *jobspec.FieldError) error {
	if bad == nil {
		return err
	}
	var ae *jobspec.Error
	if err == nil {
		return &jobspec.Error{Code: jobspec.EINVALID, Message: "invalid request", Fields: []jobspec.FieldError{*bad}}
	}
	if errors.As(err, &ae) && ae.Code == jobspec.EINVALID {
		return &jobspec.Error{Code: ae.Code, Message: ae.Message, Fields: append([]jobspec.FieldError{*bad}, ae.Fields...)}
	}
	return err
}

// checkID refuses what cannot be a job id before it reaches the store.
func checkID(id string) error {
	if _, err := uuid.Parse(id); err != nil {
		return notFound(id)
	}
	return nil
}

func notFound(id string) error {
	return jobspec.Errorf(jobspec.ENOTFOUND, "job %q not found", id)
}

// send puts a command for a job on the queue. A failure is EUNAVAILABLE
// with the public explanation given; the cause is kept for the log.
func (s *Server) send(ctx context.Context, verb queue.Verb, id, onFailure string) error {
	err := s.cfg.Queue.Send(ctx, queue.Command{Verb: verb, JobID: id, Sent: time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("%w (%s command: %v)", jobspec.Errorf(jobspec.EUNAVAILABLE, "%s", onFailure), verb, err)
	}
	return nil
}

// writeJSON answers v as JSON with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	return writeRaw(w, status, b)
}

// writeRaw answers b, JSON already encoded, and a newline with the given
// status. The length is declared: a body over 2 KiB would be chunked.
func writeRaw(w http.ResponseWriter, status int, b []byte) error {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(b) + 1)}
	w.WriteHeader(status)
	w.Write(b)
	w.Write(newline)
	return nil
}

var newline = []byte{'\n'}

// rekey gives j a new stream key and a new SRT passphrase, each 128 random
// bits in base32: URL-safe, unguessable, and 26 characters (SRT takes 10
// to 79). The passphrase is random, not derived from the key: the key
// crosses the network in the clear as the SRT streamid, and a passphrase
// computed from it would encrypt nothing.
func rekey(j *jobspec.LiveJob) { j.SetStreamKey(rand.Text(), rand.Text()) }
