package origin

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
)

// PlayPrefix starts the paths that carry a viewer token before the job's
// folder: /play/<token>/<job id>/<path>. The token rides in the path so
// that every relative URL in a manifest (variant playlists, segments,
// init segments) keeps it, with no rewriting and no player setup.
const PlayPrefix = "/play/"

// ViewerTokenMarker stands for the viewer's token in a stored manifest
// (drm.Packager writes it into key and license URIs). A manifest served
// under PlayPrefix has it replaced by the token of its URL; one served
// under /live/ keeps it, and a key endpoint refuses it.
const ViewerTokenMarker = "EZLIVE_VIEWER_TOKEN"

// Viewers decides who may read a job's outputs (playback.Guard does).
type Viewers interface {
	// TokenRequired reports whether jobID's outputs are served only under
	// PlayPrefix with a valid token. An error is answered 503.
	TokenRequired(ctx context.Context, jobID string) (bool, error)
	// ValidToken reports whether token lets its holder watch jobID now.
	ValidToken(ctx context.Context, token, jobID string) bool
}

type viewerTokenKey struct{}

// servePlay serves /play/<token>/<job id>/<path>: reads only, and only
// with a valid token for the job (403 otherwise, whatever the job).
func (s *Server) servePlay(w http.ResponseWriter, r *http.Request, rest string) {
	token, rest, _ := strings.Cut(rest, "/")
	jobID, file, hasFile := strings.Cut(rest, "/")
	switch r.Method {
	case http.MethodOptions:
		preflight(w, r)
		return
	case http.MethodGet, http.MethodHead:
	default:
		w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		httpError(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !s.viewers.ValidToken(r.Context(), token, jobID) {
		httpError(w, "a valid viewer token for this job is required", http.StatusForbidden)
		return
	}
	if !hasFile || !validJobID(jobID) {
		notFound(w)
		return
	}
	if err := validFilePath(file); err != nil {
		badRequest(w, err.Error())
		return
	}
	s.get(w, r.WithContext(context.WithValue(r.Context(), viewerTokenKey{}, token)), jobID+"/"+file)
}

// publicRead reports whether jobID's outputs may be read under /live/, and
// answers the request itself when not: a job that needs a viewer token is
// not found there (as an unknown one is).
func (s *Server) publicRead(w http.ResponseWriter, r *http.Request, jobID string) bool {
	if s.viewers == nil {
		return true
	}
	required, err := s.viewers.TokenRequired(r.Context(), jobID)
	switch {
	case err != nil:
		s.log.Error("origin: playback policy lookup failed", "job_id", jobID, "err", err)
		httpError(w, "playback policy unavailable", http.StatusServiceUnavailable)
		return false
	case required:
		notFound(w)
		return false
	}
	return true
}

// withViewerToken returns the manifest f with ViewerTokenMarker replaced by
// the viewer's token when the request came under PlayPrefix; otherwise f
// itself.
func withViewerToken(r *http.Request, f io.ReadSeeker) (io.ReadSeeker, error) {
	token, _ := r.Context().Value(viewerTokenKey{}).(string)
	if token == "" {
		return f, nil
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	return bytes.NewReader(bytes.ReplaceAll(b, []byte(ViewerTokenMarker), []byte(token))), nil
}
