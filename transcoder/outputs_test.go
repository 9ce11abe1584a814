package transcoder

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/internal/testenv"
)

// statusOrigin answers every write to a file whose name starts with "bad"
// with status, every other with 204.
func statusOrigin(t *testing.T, status int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if strings.HasPrefix(r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:], "bad") {
			w.WriteHeader(status)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/live/j/"
}

// closedOrigin is an origin URL where nothing listens.
func closedOrigin(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/live/j/"
}

// TestRelayOutputFailures: what the relay reports of its writes, after its
// retries, for each way the origin answers (the decisions are outputs'):
// since when they fail, the error, how many failed; a PUT the origin
// takes ends a failure.
func TestRelayOutputFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		origin    func(*testing.T) string
		method    string
		failing   bool
		wantError string // while failing
	}{
		{"500: the origin could not store it", func(t *testing.T) string { return statusOrigin(t, 500) }, "PUT", true,
			"PUT bad.m3u8: origin answered 500 Internal Server Error"},
		{"503", func(t *testing.T) string { return statusOrigin(t, 503) }, "PUT", true,
			"PUT bad.m3u8: origin answered 503 Service Unavailable"},
		{"413: too large, retrying would not help", func(t *testing.T) string { return statusOrigin(t, 413) }, "PUT", true,
			"PUT bad.m3u8: origin answered 413 Request Entity Too Large"},
		{"no origin", closedOrigin, "PUT", true, "PUT bad.m3u8: dial tcp"},
		{"403: the token is no longer the job's (fenced)", func(t *testing.T) string { return statusOrigin(t, 403) }, "PUT", false, ""},
		{"401", func(t *testing.T) string { return statusOrigin(t, 401) }, "PUT", false, ""},
		{"a failed DELETE is counted only", func(t *testing.T) string { return statusOrigin(t, 500) }, "DELETE", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rl, err := startRelay(tt.origin(t), "sekrit", slog.New(slog.NewTextHandler(testWriter{t}, nil)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { rl.close(5 * time.Second) })
			before := time.Now()
			rl.forward(context.Background(), upload{method: tt.method, name: "bad.m3u8", body: []byte("#EXTM3U\n")})
			since, msg, failures := rl.outputs.state()
			if failing := !since.IsZero(); failing != tt.failing || failures != 1 {
				t.Fatalf("after one failed write: failing since %v (%q), %d failures; want failing %v, 1 failure", since, msg, failures, tt.failing)
			}
			if tt.failing && (since.Before(before) || !strings.HasPrefix(msg, tt.wantError)) {
				t.Errorf("failing since %v (write started after %v), error %q; want it to start with %q", since, before, msg, tt.wantError)
			}
			if strings.Contains(msg, "sekrit") || strings.Contains(msg, "/live/") {
				t.Errorf("error %q names the token or the origin's URL", msg)
			}
			if !tt.failing && (msg != "" || len(rl.outputs.changed) != 0) {
				t.Errorf("not failing, yet error %q and a heartbeat kicked: %d", msg, len(rl.outputs.changed))
			}
			if !tt.failing {
				return
			}
			if len(rl.outputs.changed) != 1 {
				t.Errorf("the start of the failure did not kick the heartbeat")
			}
			if tt.name == "no origin" {
				return // nothing can be taken
			}
			<-rl.outputs.changed
			rl.forward(context.Background(), upload{method: http.MethodPut, name: "good.m3u8", body: []byte("#EXTM3U\n")})
			since, msg, failures = rl.outputs.state()
			if !since.IsZero() || msg != "" || failures != 1 || len(rl.outputs.changed) != 1 {
				t.Errorf("after a PUT the origin took: failing since %v (%q), %d failures, kicked %d; want restored, 1 failure, kicked",
					since, msg, failures, len(rl.outputs.changed))
			}
		})
	}
}

// TestRelayTakesOverAFailure: a transcoder restarted in place goes on with
// its record's failure until a PUT is taken.
func TestRelayTakesOverAFailure(t *testing.T) {
	t.Parallel()
	rl, err := startRelay(statusOrigin(t, 500), "sekrit", slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer rl.close(5 * time.Second)
	was := time.Now().Add(-time.Minute)
	rl.outputs.takeOver(was, "PUT x.ts: origin answered 500 Internal Server Error")
	rl.forward(context.Background(), upload{method: http.MethodPut, name: "bad.ts", body: []byte("x")})
	if since, msg, _ := rl.outputs.state(); !since.Equal(was) || !strings.HasPrefix(msg, "PUT bad.ts") {
		t.Errorf("still failing: since %v (%q), want the inherited %v with the newest error", since, msg, was)
	}
	rl.forward(context.Background(), upload{method: http.MethodPut, name: "good.ts", body: []byte("x")})
	if since, _, _ := rl.outputs.state(); !since.IsZero() {
		t.Errorf("after a PUT the origin took: failing since %v", since)
	}
}

// TestRelayStreamedSegmentFailures: a segment streamed to the origin that
// it does not take is a failure; one ffmpeg broke off is not the origin's.
func TestRelayStreamedSegmentFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		request string // after the request line's path
		failing bool
	}{
		{"the origin answers 500", "Content-Length: 4\r\nConnection: close\r\n\r\nmoof", true},
		{"ffmpeg breaks off", "Content-Length: 100\r\n\r\nmoof", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rl, err := startRelay(statusOrigin(t, 500), "sekrit", slog.New(slog.NewTextHandler(testWriter{t}, nil)))
			if err != nil {
				t.Fatal(err)
			}
			rl.streaming.Store(true)
			c := dialRelay(t, rl)
			fmt.Fprintf(c, "PUT %s HTTP/1.1\r\nHost: x\r\n%s", c.path("bad_1.m4s"), tt.request)
			if !tt.failing {
				c.Conn.(*net.TCPConn).CloseWrite()
			}
			_, _ = io.ReadAll(c)
			rl.close(5 * time.Second)
			since, msg, failures := rl.outputs.state()
			if failing := !since.IsZero(); failing != tt.failing || failures != int64(boolInt(tt.failing)) {
				t.Errorf("failing since %v (%q), %d failures; want failing %v", since, msg, failures, tt.failing)
			}
		})
	}
}

// TestHeartbeatsReportOutputFailures: while the origin cannot store the
// job's files, the heartbeats say since when its outputs fail, with the
// error and a count; once it can again, they say so.
func TestHeartbeatsReportOutputFailures(t *testing.T) {
	t.Parallel()
	j := startJob(t, "outfail", smallLadder("hls", "mpegts", 2, "h264"))
	pub := publisher(j.ingestURL(), 60, "320x180")
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Process.Kill(); _ = pub.Wait() })
	testenv.WaitFor(t, 30*time.Second, "media flowing", func() bool { return j.rep.last().State == StateStreaming })
	if hb := j.rep.last(); !hb.OutputFailingSince.IsZero() {
		t.Fatalf("failing since %v before the origin broke", hb.OutputFailingSince)
	}

	brokeAt := time.Now()
	j.origin.broken.Store(true)
	var failing Heartbeat
	testenv.WaitFor(t, 30*time.Second, "a heartbeat saying the outputs fail", func() bool {
		failing = j.rep.last()
		return !failing.OutputFailingSince.IsZero()
	})
	if failing.OutputFailingSince.Before(brokeAt) || !strings.Contains(failing.OutputError, "origin answered 500") ||
		failing.Stats.Upload_failures == 0 || failing.State != StateStreaming {
		t.Errorf("heartbeat: failing since %v (broken at %v), error %q, %d failures, state %s",
			failing.OutputFailingSince, brokeAt, failing.OutputError, failing.Stats.Upload_failures, failing.State)
	}

	j.origin.broken.Store(false)
	testenv.WaitFor(t, 30*time.Second, "a heartbeat saying the outputs are restored", func() bool {
		return j.rep.last().OutputFailingSince.IsZero()
	})
	if hb := j.rep.last(); hb.OutputError != "" || hb.Stats.Upload_failures < failing.Stats.Upload_failures {
		t.Errorf("restored heartbeat: error %q, %d failures (was %d)", hb.OutputError, hb.Stats.Upload_failures, failing.Stats.Upload_failures)
	}
}

// TestQuietEndsAFailure: with no PUT for quietEnds, a failure is over —
// the run ended, or an inherited failure never met a write — so a job
// waiting for its publisher is not failed for writes that are over.
func TestQuietEndsAFailure(t *testing.T) {
	t.Parallel()
	o := newOutputs()
	o.record(uploadResult{method: http.MethodPut, name: "last.ts", status: 500, started: time.Now()})
	if since, _, _ := o.state(); since.IsZero() {
		t.Fatal("a PUT the origin refused started no failure")
	}
	o.mu.Lock()
	o.lastPut = time.Now().Add(-quietEnds - time.Second)
	o.mu.Unlock()
	if since, msg, n := o.state(); !since.IsZero() || msg != "" || n != 1 {
		t.Errorf("after %s without a PUT: failing since %v (%q), %d failures; want none failing, 1 counted", quietEnds, since, msg, n)
	}
	o.takeOver(time.Now().Add(-time.Hour), "PUT x.ts: origin answered 500 Internal Server Error")
	if since, _, _ := o.state(); since.IsZero() {
		t.Error("a failure taken over ended at once")
	}
}
