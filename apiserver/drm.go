package apiserver

import (
	"net/http"

	"github.com/julienschmidt/httprouter"
)

// DRMLicense serves the player-facing key endpoints (drm.License does):
// POST /drm/clearkey/:id (W3C ClearKey) and GET /drm/key/:id?token= (HLS).
// They are open: players carry no API token; the handlers guard the keys.
type DRMLicense interface {
	ServeClearKey(w http.ResponseWriter, r *http.Request, jobID string)
	ServeHLSKey(w http.ResponseWriter, r *http.Request, jobID string)
}

func (s *Server) clearKeyLicense(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	s.cfg.DRM.ServeClearKey(w, r, ps.ByName("id"))
	return nil
}

func (s *Server) hlsKey(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	s.cfg.DRM.ServeHLSKey(w, r, ps.ByName("id"))
	return nil
}
