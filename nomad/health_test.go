package nomad_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/ezlivestreaming/ezlive/nomad"
	"github.com/ezlivestreaming/ezlive/nomad/nomadtest"
)

// TestPing: ready while Nomad answers the driver's job list; not ready, with
// Nomad's reason, when the token is refused, there is no leader or nothing
// listens. The refusals are what a real agent answers: 403 "Permission
// denied" (ACL) and 500 "No cluster leader" (a query forwarded to a leader
// that is not there).
func TestPing(t *testing.T) {
	t.Parallel()
	refusing := func(status int, msg string) *api.Client {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/v1/jobs" || r.URL.Query().Get("prefix") != nomad.JobPrefix {
				t.Errorf("ping asked %s", r.URL)
			}
			http.Error(w, msg, status)
		}))
		t.Cleanup(srv.Close)
		return client(t, srv.URL)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	tests := []struct {
		name   string
		client *api.Client
		want   string // part of the error; "" for ready
	}{
		{"answers", nomadtest.New(t).Client(), ""},
		{"token refused", refusing(http.StatusForbidden, "Permission denied"), "Permission denied"},
		{"no leader", refusing(http.StatusInternalServerError, "No cluster leader"), "No cluster leader"},
		{"nothing listens", client(t, closed.URL), "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := nomad.New(nomad.Config{Client: tt.client})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = d.Ping(ctx)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Ping: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Ping = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

func client(t *testing.T, addr string) *api.Client {
	t.Helper()
	c, err := api.NewClient(&api.Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
