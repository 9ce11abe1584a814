package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/internal/redistest"
	"github.com/ezlivestreaming/ezlive/internal/testenv"
	"github.com/ezlivestreaming/ezlive/nomad/nomadtest"
)

// TestServersDrain: every server behind a load balancer answers /readyz in
// the one format, turns not ready as soon as it is told to stop, keeps
// serving for -drain, then exits cleanly.
func TestServersDrain(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	tests := []struct {
		name string
		run  func(context.Context, []string) error
		args func(health string) []string
		deps []string
	}{
		{"api", runAPI, func(h string) []string { return []string{"-listen", h} }, []string{"redis", "queue"}},
		{"origin", runOrigin, func(h string) []string { return []string{"-listen", h, "-root", t.TempDir()} }, []string{"redis"}},
		{"ingest", runIngest, func(h string) []string { return []string{"-listen", "127.0.0.1:0", "-health-listen", h} }, []string{"redis"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := testenv.FreeAddr(t)
			const period = 1500 * time.Millisecond
			ctx, stop := context.WithCancel(context.Background())
			defer stop()
			done := make(chan error, 1)
			args := append(tt.args(addr), "-redis", redis.Addr, "-drain", period.String(), "-log-level", "error")
			go func() { done <- tt.run(ctx, args) }()

			status, body := getReady(t, addr, 10*time.Second)
			if status != http.StatusOK || body["status"] != "ready" {
				t.Fatalf("/readyz %d %v, want 200 ready", status, body)
			}
			checks, _ := body["checks"].(map[string]any)
			for _, dep := range tt.deps {
				if checks[dep] != "ok" {
					t.Errorf("/readyz checks %v: %s not ok", checks, dep)
				}
			}
			stopped := time.Now()
			stop()
			time.Sleep(100 * time.Millisecond)
			if status, body := getReady(t, addr, time.Second); status != http.StatusServiceUnavailable || !strings.Contains(body["detail"].(string), "draining") {
				t.Errorf("/readyz while draining: %d %v, want 503 draining", status, body)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("exit: %v", err)
				}
				if waited := time.Since(stopped); waited < period {
					t.Errorf("exited %v after the stop, before the %v drain", waited, period)
				}
			case <-time.After(period + 10*time.Second):
				t.Fatal("did not exit after the drain")
			}
		})
	}
}

// TestSchedulerReadyNeedsNomad: with the Nomad driver the scheduler's
// /readyz checks Nomad too, and names it when it does not answer.
func TestSchedulerReadyNeedsNomad(t *testing.T) {
	redis := redistest.Start(t)
	closed := testenv.FreeAddr(t)
	tests := []struct {
		name, nomadAddr string
		status          int
		nomad           string // part of checks.nomad
	}{
		{"nomad answers", nomadtest.New(t).URL, http.StatusOK, "ok"},
		{"nomad down", "http://" + closed, http.StatusServiceUnavailable, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("NOMAD_ADDR", tt.nomadAddr)
			addr := testenv.FreeAddr(t)
			ctx, stop := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- runScheduler(ctx, []string{"-driver", "nomad", "-redis", redis.Addr, "-listen", addr, "-log-level", "error"})
			}()
			defer func() { stop(); <-done }()
			status, body := getReady(t, addr, 10*time.Second)
			checks, _ := body["checks"].(map[string]any)
			nomad, _ := checks["nomad"].(string)
			if status != tt.status || !strings.Contains(nomad, tt.nomad) || checks["redis"] != "ok" {
				t.Errorf("/readyz %d %v, want %d with nomad %q", status, body, tt.status, tt.nomad)
			}
		})
	}
}

// getReady polls GET /readyz until it answers or within ends.
func getReady(t *testing.T, addr string, within time.Duration) (int, map[string]any) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			defer resp.Body.Close()
			var body map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("/readyz body: %v", err)
			}
			return resp.StatusCode, body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
