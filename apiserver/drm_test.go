package apiserver_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ezlivestreaming/ezlive/apiserver"
)

// fakeLicense answers with the job id it was asked about.
type fakeLicense struct{}

func (fakeLicense) ServeClearKey(w http.ResponseWriter, r *http.Request, jobID string) {
	w.Write([]byte("clearkey " + jobID))
}

func (fakeLicense) ServeHLSKey(w http.ResponseWriter, r *http.Request, jobID string) {
	w.Write([]byte("key " + jobID + " " + r.URL.Query().Get("token")))
}

// TestDRMRoutes checks that the license routes reach the DRM handlers
// without the API token (players have none), and that a DRM spec is
// validated: an unsupported scheme is a 400 naming the field.
func TestDRMRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *apiserver.Config) { c.Token = "secret"; c.DRM = fakeLicense{} })
	if a := e.do("POST", "/drm/clearkey/job-1", []byte(`{"kids":[]}`)).want(t, http.StatusOK); string(a.body) != "clearkey job-1" {
		t.Errorf("license route answered %q", a.body)
	}
	if a := e.do("GET", "/drm/key/job-1?token=t1", nil).want(t, http.StatusOK); string(a.body) != "key job-1 t1" {
		t.Errorf("key route answered %q", a.body)
	}
	spec := strings.Replace(string(sampleSpec(t)), `"Output": {`, `"Output": {"Drm": {"Protection_scheme": "cbcs"},`, 1)
	p := e.do("POST", "/jobs", []byte(spec), "Authorization: Bearer secret").want(t, http.StatusBadRequest).problem(t)
	if !strings.Contains(string(e.do("POST", "/jobs", []byte(spec), "Authorization: Bearer secret").body), "Output.Drm.Protection_scheme") {
		t.Errorf("400 for cbcs on DASH does not name Output.Drm.Protection_scheme: %+v", p)
	}
}
