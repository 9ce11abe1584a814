package apiserver

import (
	_ "embed"
	"net/http"

	"github.com/julienschmidt/httprouter"
)

// openAPI describes the routes of this package; keep the two together.
//
//go:embed openapi.yaml
var openAPI []byte

func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) error {
	w.Header().Set("Content-Type", "application/yaml")
	w.Write(openAPI)
	return nil
}
