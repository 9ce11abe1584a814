package apiserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ezlivestreaming/ezlive/apiserver"
	"github.com/ezlivestreaming/ezlive/jobspec"
)

// TestHealthFormat: the one /healthz and /readyz every server answers.
func TestHealthFormat(t *testing.T) {
	t.Parallel()
	ok := func(context.Context) error { return nil }
	down := func(msg string) func(context.Context) error {
		return func(context.Context) error { return errors.New(msg) }
	}
	tests := []struct {
		name       string
		checks     map[string]func(context.Context) error
		drain      bool
		method     string
		path       string
		wantStatus int
		wantDetail string
		wantChecks map[string]string
	}{
		{"live even when a dependency is down", map[string]func(context.Context) error{"redis": down("refused")}, false,
			"GET", "/healthz", 200, "", nil},
		{"ready", map[string]func(context.Context) error{"redis": ok, "queue": ok, "nomad": ok}, false,
			"GET", "/readyz", 200, "", map[string]string{"redis": "ok", "queue": "ok", "nomad": "ok"}},
		{"one down", map[string]func(context.Context) error{"redis": ok, "nomad": down("no cluster leader")}, false,
			"GET", "/readyz", 503, "not ready: nomad down", map[string]string{"redis": "ok", "nomad": "no cluster leader"}},
		{"three down, named in order", map[string]func(context.Context) error{"redis": down("a"), "queue": down("b"), "nomad": down("c")}, false,
			"GET", "/readyz", 503, "not ready: nomad, queue and redis down", map[string]string{"redis": "a", "queue": "b", "nomad": "c"}},
		{"draining", map[string]func(context.Context) error{"redis": ok}, true,
			"GET", "/readyz", 503, "draining: the server is shutting down", map[string]string{"shutdown": "draining"}},
		{"draining is still live", map[string]func(context.Context) error{"redis": ok}, true,
			"GET", "/healthz", 200, "", nil},
		{"HEAD", map[string]func(context.Context) error{"redis": down("x")}, false,
			"HEAD", "/readyz", 503, "", nil},
		{"no such path", nil, false, "GET", "/metrics", 404, "no route for GET /metrics", nil},
		{"no such method", nil, false, "POST", "/readyz", 405, "POST is not allowed here; allowed: GET, HEAD", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := apiserver.NewHealth(tt.checks)
			if tt.drain {
				h.Drain()
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(tt.method, tt.path, nil))
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.wantStatus, w.Body)
			}
			if tt.method == "HEAD" {
				return
			}
			var body struct {
				apiserver.Problem
				Status any `json:"status"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %s: %v", w.Body, err)
			}
			switch {
			case w.Code == 200 && tt.path == "/healthz" && body.Status != "ok",
				w.Code == 200 && tt.path == "/readyz" && body.Status != "ready":
				t.Errorf("status field %v in %s", body.Status, w.Body)
			case w.Code >= 400 && w.Header().Get("Content-Type") != apiserver.ProblemContentType:
				t.Errorf("Content-Type %q", w.Header().Get("Content-Type"))
			case w.Code == 503 && body.Code != jobspec.EUNAVAILABLE:
				t.Errorf("code %q, want %q", body.Code, jobspec.EUNAVAILABLE)
			}
			if body.Detail != tt.wantDetail {
				t.Errorf("detail %q, want %q", body.Detail, tt.wantDetail)
			}
			if len(body.Checks) != len(tt.wantChecks) {
				t.Errorf("checks %v, want %v", body.Checks, tt.wantChecks)
			}
			for k, v := range tt.wantChecks {
				if body.Checks[k] != v {
					t.Errorf("checks[%s] = %q, want %q", k, body.Checks[k], v)
				}
			}
		})
	}
}

// TestDrainTurnsAPINotReady: after Drain the API still serves its routes but
// /readyz says 503 at once, so the load balancer stops sending first.
func TestDrainTurnsAPINotReady(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.do("GET", "/readyz", nil).want(t, http.StatusOK)
	e.server.Drain()
	p := e.do("GET", "/readyz", nil).want(t, http.StatusServiceUnavailable).problem(t)
	if !strings.Contains(p.Detail, "draining") {
		t.Errorf("readyz while draining: %+v", p)
	}
	e.do("GET", "/healthz", nil).want(t, http.StatusOK)
	e.do("GET", "/jobs", nil).want(t, http.StatusOK)
	resp, err := http.Head(e.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("HEAD /readyz while draining: %d", resp.StatusCode)
	}
}
