// Package e2e_test runs the whole platform as separate processes (api,
// scheduler, origin, transcoders, real Redis, real ffmpeg, and SQS on fauxqs
// or Redis Streams) and drives it as a user would, over HTTP.
package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/client"
	"github.com/ezlivestreaming/ezlive/internal/redistest"
	"github.com/ezlivestreaming/ezlive/internal/testenv"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/testfeed"
)

// ezliveBin is the binary under test, built once by TestMain.
var ezliveBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ezlive-e2e-")
	if err != nil {
		panic(err)
	}
	ezliveBin = filepath.Join(dir, "ezlive")
	build := exec.Command("go", "build", "-tags", "srt", "-o", ezliveBin, "../cmd/ezlive")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build ezlive:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// system is one running platform.
type system struct {
	t          testing.TB
	redis      *redistest.Server
	apiURL     string
	originURL  string
	originRoot string
	bucket     string // the URL of the origin's S3 bucket (s3Origin), "" when it stores in originRoot
	queueArgs  []string
	env        []string
	ingest     string   // port range for the local driver
	schedArgs  []string // extra scheduler flags (e.g. the Nomad driver)
	apiAddr    string
	api        *exec.Cmd
	ingestURL  string    // the gateway's base: every job's RtmpIngestUrl is <ingestURL>/<stream key>
	gateway    *exec.Cmd // the ingest gateway process
	ingestArgs []string
	client     *client.Client

	mu    sync.Mutex
	sched *exec.Cmd
}

func startSystem(t testing.TB, queueArgs []string, env ...string) *system {
	return startSystemWith(t, queueArgs, nil, env...)
}

// startSystemWith starts the platform with extra scheduler flags.
func startSystemWith(t testing.TB, queueArgs, schedArgs []string, env ...string) *system {
	t.Helper()
	return startSystemOn(t, redistest.Start(t), queueArgs, schedArgs, env...)
}

// startSystemOn starts the platform on a given Redis.
func startSystemOn(t testing.TB, rs *redistest.Server, queueArgs, schedArgs []string, env ...string) *system {
	t.Helper()
	low := 30000 + rand.IntN(300)*100
	s := &system{
		t: t, redis: rs, queueArgs: queueArgs, env: env, schedArgs: schedArgs,
		originRoot: t.TempDir(), ingest: fmt.Sprintf("%d-%d", low, low+99), bucket: bucketURL(env),
	}
	originAddr, apiAddr, ingestAddr := testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t)
	s.originURL, s.apiURL, s.ingestURL = "http://"+originAddr, "http://"+apiAddr, "rtmp://"+ingestAddr+"/live"
	s.ingestArgs = []string{"ingest", "-listen", ingestAddr, "-redis", s.redis.Addr}
	s.gateway = s.start("ingest", s.ingestArgs...)
	s.start("origin", "origin", "-listen", originAddr, "-root", s.originRoot, "-redis", s.redis.Addr,
		"-drm-license-base-url", s.apiURL)
	s.apiAddr = apiAddr
	s.api = s.start("api", s.apiArgs()...)
	s.startScheduler()
	s.client = client.New(s.apiURL, "")
	s.waitFor(30*time.Second, "API ready", func() (bool, string) {
		err := s.client.Ready(context.Background())
		return err == nil, fmt.Sprint(err)
	})
	return s
}

// feedSize is the test pattern every e2e publisher pushes, the API's
// (-feeds) too: 360p, the sample ladder's smallest rendition, costs its
// publisher and each transcoder's decoder about a third less CPU than the
// default 720p, on two cores shared by several jobs and a browser.
var feedSize = testfeed.Size{Width: 640, Height: 360}

func (s *system) apiArgs(extra ...string) []string {
	args := []string{"api", "-listen", s.apiAddr, "-redis", s.redis.Addr, "-playback-base-url", s.originURL, "-ingest-gateway", s.ingestURL,
		"-feed-size", feedSize.String()}
	return append(append(args, s.queueArgs...), extra...)
}

// restartAPI replaces the API process with one that has extra flags.
func (s *system) restartAPI(extra ...string) {
	s.t.Helper()
	s.api.Process.Kill()
	s.api.Wait()
	s.api = s.start("api", s.apiArgs(extra...)...)
	s.waitFor(30*time.Second, "API ready again", func() (bool, string) {
		err := s.client.Ready(context.Background())
		return err == nil, fmt.Sprint(err)
	})
}

func (s *system) startScheduler() {
	args := append([]string{"scheduler", "-redis", s.redis.Addr, "-origin", s.originURL,
		"-ezlive-bin", ezliveBin, "-ingest-ports", s.ingest,
		"-heartbeat-timeout", "4s", "-listen", ""}, s.queueArgs...)
	args = append(args, s.schedArgs...)
	cmd := s.start("scheduler", args...)
	s.mu.Lock()
	s.sched = cmd
	s.mu.Unlock()
}

// killScheduler kills the scheduler with SIGKILL: no cleanup of any kind.
func (s *system) killScheduler() {
	s.mu.Lock()
	cmd := s.sched
	s.mu.Unlock()
	cmd.Process.Kill()
	cmd.Wait()
}

// start runs one ezlive process, logging to a file shown if the test fails,
// and kills it when the test ends.
func (s *system) start(name string, args ...string) *exec.Cmd {
	s.t.Helper()
	logPath := filepath.Join(s.t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(ezliveBin, args...)
	cmd.Env = append(os.Environ(), s.env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", name, err)
	}
	s.t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logFile.Close()
		if s.t.Failed() {
			out, _ := os.ReadFile(logPath)
			s.t.Logf("--- %s log (last 3000 bytes) ---\n%s", name, tail(out, 3000))
		}
	})
	return cmd
}

// waitFor polls cond until it holds or the timeout passes; the test fails
// with cond's last explanation.
func (s *system) waitFor(timeout time.Duration, what string, cond func() (bool, string)) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, why := cond()
		if ok {
			return
		}
		last = why
		time.Sleep(200 * time.Millisecond)
	}
	s.t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, last)
}

func (s *system) waitState(id string, want jobspec.State, timeout time.Duration) *jobspec.LiveJob {
	s.t.Helper()
	var job *jobspec.LiveJob
	s.waitFor(timeout, fmt.Sprintf("job %s %s", id, want), func() (bool, string) {
		j, err := s.client.Get(context.Background(), id)
		if err != nil {
			return false, err.Error()
		}
		job = j
		return j.State == want, fmt.Sprintf("state %s (%s)", j.State, j.State_reason)
	})
	return job
}

// processesWith lists the pids of processes whose command line contains s.
func processesWith(s string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(s)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
