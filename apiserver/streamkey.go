package apiserver

import (
	"fmt"
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/ezlivestreaming/ezlive/jobspec"
)

// rotateStreamKey gives a job a new stream key and SRT passphrase. The old
// key stops working at once: the ingest gateway looks every key up in Redis when a publisher
// connects, and drops publishers whose key no longer resolves. Behind a
// gateway RtmpIngestUrl changes only in its last part. A job being deleted
// keeps its key until its record is gone: 409.
func (s *Server) rotateStreamKey(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	id := ps.ByName("id")
	if err := checkID(id); err != nil {
		return err
	}
	job, err := s.cfg.Store.UpdateJob(r.Context(), id, func(j *jobspec.LiveJob) error {
		if j.State == jobspec.StateDeleting {
			return &conflictError{state: j.State, msg: fmt.Sprintf("cannot rotate the stream key of job %s: it is being deleted", id)}
		}
		rekey(j)
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, job)
}
