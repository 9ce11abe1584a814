// Package redistest starts a private redis-server on a free loopback port for
// a test, and stops it when the test ends.
package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ezlivestreaming/ezlive/internal/testenv"
)

// Server is a running redis-server owned by one test.
type Server struct {
	Addr string
	args []string
	cmd  *exec.Cmd
}

// Start runs redis-server on 127.0.0.1 with no persistence; it is killed at
// the end of the test. The test fails if redis-server is not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, "--save", "", "--appendonly", "no")
}

// StartPersistent is Start with every write in an append-only file synced
// at once, so that Restart after Stop (a kill -9) loses nothing: Redis
// going away for a while, as a failover or a restart makes it.
func StartPersistent(t testing.TB) *Server {
	t.Helper()
	return start(t, "--save", "", "--appendonly", "yes", "--appendfsync", "always")
}

func start(t testing.TB, options ...string) *Server {
	t.Helper()
	return startWith(t, nil, options...)
}

// startWith runs redis-server with first (a config file, say) before the
// loopback port and private folder, and options after them.
func startWith(t testing.TB, first []string, options ...string) *Server {
	t.Helper()
	port := testenv.FreePort(t)
	args := append(first, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--dir", t.TempDir())
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), args: append(args, options...)}
	t.Cleanup(s.Stop)
	s.Restart(t)
	return s
}

// Restart starts the server again on its address and data folder, after
// Stop, and waits until it answers.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not installed (make test installs it): %v", err)
	}
	s.cmd = exec.Command(bin, s.args...)
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer rdb.Close()
	deadline := time.Now().Add(10 * time.Second)
	for rdb.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not answer", s.Addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Client returns a client of the server, closed when the test ends.
func (s *Server) Client(t testing.TB) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// Stop kills the server (tests use it to simulate Redis going down).
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil && s.cmd.ProcessState == nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
}
