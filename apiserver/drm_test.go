package apiserver_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/ezlivestreaming/ezlive/apiserver"
	"github.com/ezlivestreaming/ezlive/jobspec"
)

// fakeLicense answers with the job id it was asked about, or fails with
// the error it holds for that job.
type fakeLicense struct {
	errs map[string]error // job id → failure
}

func (f fakeLicense) ServeClearKey(w http.ResponseWriter, r *http.Request, jobID string) error {
	if err := f.errs[jobID]; err != nil {
		return err
	}
	w.Write([]byte("clearkey " + jobID))
	return nil
}

func (f fakeLicense) ServeHLSKey(w http.ResponseWriter, r *http.Request, jobID string) error {
	if err := f.errs[jobID]; err != nil {
		return err
	}
	w.Write([]byte("key " + jobID + " " + r.URL.Query().Get("token")))
	return nil
}

// TestDRMRoutes checks that the license routes reach the DRM handlers
// without the API token (players have none), whatever the id, and
// that a DRM spec is validated: an unsupported scheme is a 400 naming the
// field.
func TestDRMRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *apiserver.Config) { c.Token = "secret"; c.DRM = fakeLicense{} })
	id := uuid.NewString()
	if a := e.do("POST", "/drm/clearkey/"+id, []byte(`{"kids":[]}`)).want(t, http.StatusOK); string(a.body) != "clearkey "+id {
		t.Errorf("license route answered %q", a.body)
	}
	if a := e.do("GET", "/drm/key/"+id+"?token=t1", nil).want(t, http.StatusOK); string(a.body) != "key "+id+" t1" {
		t.Errorf("key route answered %q", a.body)
	}
	// Any id reaches the handler, which refuses every id the same way
	// without a viewer token: the route itself tells nothing of the id.
	if a := e.do("GET", "/drm/key/job-1?token=t1", nil).want(t, http.StatusOK); string(a.body) != "key job-1 t1" {
		t.Errorf("key route answered %q for an id that is not a UUID", a.body)
	}
	spec := strings.Replace(string(sampleSpec(t)), `"Output": {`, `"Output": {"Drm": {"Protection_scheme": "cbcs"},`, 1)
	p := e.do("POST", "/jobs", []byte(spec), "Authorization: Bearer secret").want(t, http.StatusBadRequest).problem(t)
	if !strings.Contains(string(e.do("POST", "/jobs", []byte(spec), "Authorization: Bearer secret").body), "Output.Drm.Protection_scheme") {
		t.Errorf("400 for cbcs on DASH does not name Output.Drm.Protection_scheme: %+v", p)
	}
}

// TestDRMErrors checks that what the DRM handlers fail with is answered
// like every other error of the API: a problem with the status of its code,
// 403 for a refused key, and the cause of a 5xx left out of the body.
func TestDRMErrors(t *testing.T) {
	t.Parallel()
	cause := errors.New("dial tcp 10.0.0.9:6379: connect: connection refused")
	tests := []struct {
		name   string
		err    error
		status int
		code   string
		detail string
		field  string
	}{
		{"invalid", &jobspec.Error{Code: jobspec.EINVALID, Message: "invalid ClearKey license request",
			Fields: []jobspec.FieldError{{Field: "kids[0]", Message: "is not a key id"}}},
			http.StatusBadRequest, jobspec.EINVALID, "invalid ClearKey license request", "kids[0]"},
		{"not found", jobspec.Errorf(jobspec.ENOTFOUND, "no key for this job"), http.StatusNotFound, jobspec.ENOTFOUND, "no key for this job", ""},
		{"refused", jobspec.Errorf(jobspec.EFORBIDDEN, "a valid key token is required"), http.StatusForbidden, jobspec.EFORBIDDEN, "a valid key token is required", ""},
		{"unavailable", fmt.Errorf("read key: %w: %w", jobspec.Errorf(jobspec.EUNAVAILABLE, "the key store is unavailable; try again"), cause),
			http.StatusServiceUnavailable, jobspec.EUNAVAILABLE, "the key store is unavailable; try again", ""},
		{"internal", fmt.Errorf("decode key: %w", cause), http.StatusInternalServerError, jobspec.EINTERNAL, "", ""},
	}
	errs := map[string]error{}
	ids := map[string]string{}
	for _, tt := range tests {
		ids[tt.name] = uuid.NewString()
		errs[ids[tt.name]] = tt.err
	}
	e := newEnv(t, func(c *apiserver.Config) { c.DRM = fakeLicense{errs: errs} })
	for _, tt := range tests {
		for _, r := range []struct{ method, path string }{{"POST", "/drm/clearkey/"}, {"GET", "/drm/key/"}} {
			a := e.do(r.method, r.path+ids[tt.name], []byte(`{"kids":[]}`)).want(t, tt.status)
			p := a.problem(t)
			if p.Code != tt.code || tt.detail != "" && p.Detail != tt.detail || strings.Contains(string(a.body), "10.0.0.9") {
				t.Errorf("%s %s: problem %s, want code %q detail %q and no cause", tt.name, r.path, a.body, tt.code, tt.detail)
			}
			if tt.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != tt.field) {
				t.Errorf("%s %s: problem %+v does not name %s", tt.name, r.path, p, tt.field)
			}
		}
	}
}
