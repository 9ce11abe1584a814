package apiserver

import (
	"net/http"

	"github.com/julienschmidt/httprouter"
)

// DRMLicense serves the player-facing key endpoints (drm.License does):
// POST /drm/clearkey/:id (W3C ClearKey) and GET /drm/key/:id?token= (HLS).
// They are open: players carry no API token; the handlers guard the keys.
// A handler writes only its success and returns its failure, which serve
// answers as a problem like any other (see problemOf).
type DRMLicense interface {
	ServeClearKey(w http.ResponseWriter, r *http.Request, jobID string) error
	ServeHLSKey(w http.ResponseWriter, r *http.Request, jobID string) error
}

func (s *Server) clearKeyLicense(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	id := ps.ByName("id")
	if err := checkID(id); err != nil {
		return err
	}
	return s.cfg.DRM.ServeClearKey(w, r, id)
}

func (s *Server) hlsKey(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	id := ps.ByName("id")
	if err := checkID(id); err != nil {
		return err
	}
	return s.cfg.DRM.ServeHLSKey(w, r, id)
}
