package apiserver

import (
	"context"
	"fmt"
	"net/http"

	"github.com/julienschmidt/httprouter"
)

// feedState is the answer of the feed routes.
type feedState struct {
	Running bool `json:"Running"`
}

// startFeed pushes the demo's test pattern into a job's ingest. The job must
// have been placed (its RtmpIngestUrl set) and be active.
func (s *Server) startFeed(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	job, err := s.lookupJob(r.Context(), ps.ByName("id"))
	if err != nil {
		return err
	}
	if !job.Listening() {
		return &conflictError{state: job.State,
			msg: fmt.Sprintf("job %s has no ingest to feed: it is %s; try again once it is running", job.Id, job.State)}
	}
	// The feed outlives the request: it runs until stopped.
	if err := s.cfg.Feed.Start(context.WithoutCancel(r.Context()), job); err != nil {
		return fmt.Errorf("start feed of job %s: %w", job.Id, err)
	}
	return writeJSON(w, http.StatusAccepted, feedState{Running: true})
}

// stopFeed stops the test pattern; stopping a feed that does not run is fine.
func (s *Server) stopFeed(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	id := ps.ByName("id")
	if _, err := s.lookupJob(r.Context(), id); err != nil {
		return err
	}
	if err := s.cfg.Feed.Stop(id); err != nil {
		return fmt.Errorf("stop feed of job %s: %w", id, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) feedStatus(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	id := ps.ByName("id")
	if _, err := s.lookupJob(r.Context(), id); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, feedState{Running: s.cfg.Feed.Running(id)})
}
