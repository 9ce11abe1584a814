package apiserver

import (
	"net/http"

	"github.com/julienschmidt/httprouter"
)

// DRMLicense serves the player-facing key endpoints (drm.License does):
// POST /drm/clearkey/:id?token= (W3C ClearKey) and GET /drm/key/:id?token=
// (HLS). They are open: players carry no API token; the handlers guard the
// keys with the viewer token, which they check before anything else, so
// the id is not checked here: any id without a valid token gets the same
// refusal.
// A handler writes only its success and returns its failure, which serve
// answers as a problem like any other (see problemOf).
type DRMLicense interface {
	ServeClearKey(w http.ResponseWriter, r *http.Request, jobID string) error
	ServeHLSKey(w http.ResponseWriter, r *http.Request, jobID string) error
}

func (s *Server) clearKeyLicense(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	return s.cfg.DRM.ServeClearKey(w, r, ps.ByName("id"))
}

func (s *Server) hlsKey(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	return s.cfg.DRM.ServeHLSKey(w, r, ps.ByName("id"))
}
