// Package benchredis starts the private redis-server a bench command runs
// against, and reads its INFO; it owns that process and its files, nothing
// else.
package benchredis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a private redis-server with no persistence.
type Server struct {
	Addr string
	cmd  *exec.Cmd
	dir  string
}

// Start runs redis-server on a free loopback port, its files in a
// temporary folder named after the bench.
func Start(bench string) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not installed: %w", err)
	}
	dir, err := os.MkdirTemp("", "ezlive-bench-"+bench+"-redis-")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	rs := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd, dir: dir}
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rdb.Close()
	for deadline := time.Now().Add(10 * time.Second); rdb.Ping(context.Background()).Err() != nil; {
		if time.Now().After(deadline) {
			rs.Stop()
			return nil, errors.New("redis-server did not answer on " + rs.Addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return rs, nil
}

// Stop kills the server and removes its files.
func (rs *Server) Stop() {
	rs.cmd.Process.Kill()
	rs.cmd.Wait()
	os.RemoveAll(rs.dir)
}

// InfoNumber is a number from INFO's "name:value" lines (0 when absent).
func InfoNumber(info, name string) float64 {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

// Pid is the redis-server's process id, to read its CPU time.
func (rs *Server) Pid() int { return rs.cmd.Process.Pid }
