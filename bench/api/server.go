package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ezlivestreaming/ezlive/apiserver"
	"github.com/ezlivestreaming/ezlive/queue"
	"github.com/ezlivestreaming/ezlive/store"
)

// Each server measured runs in a process of its own, as the original
// does: on a machine short of cores, a server sharing the load
// generator's process would get less CPU than one beside it.

// child is a server process started by the bench: this command again,
// with -serve.
type child struct {
	base  string
	cmd   *exec.Cmd
	stdin io.Closer
}

// startChild runs this command as the server role ("api" or "bare") on the
// Redis at addr, and waits for its address.
func startChild(role, addr string, o options) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"-serve", role, "-serve-redis", addr, "-conns", strconv.Itoa(o.conns)}
	if role == "api" && o.profile != "" {
		args = append(args, "-cpuprofile", o.profile)
	}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stdin: stdin}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if c.base = strings.TrimSpace(line); err != nil || !strings.HasPrefix(c.base, "http://") {
		c.stop()
		return nil, fmt.Errorf("%s server: no address (%q, %v)", role, line, err)
	}
	return c, nil
}

// stop closes the child's stdin, on which it ends, and waits for it.
func (c *child) stop() {
	c.stdin.Close()
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

// serveRole is the child's side: serve, print the address, and stop when
// stdin closes.
func serveRole(role, addr string, o options) error {
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: o.conns + 16})
	defer rdb.Close()
	var base string
	var closeServer func()
	var err error
	switch role {
	case "api":
		base, closeServer, err = startAPI(rdb)
	case "bare":
		base, closeServer, err = startBare(rdb)
	default:
		err = errors.New("-serve takes api or bare")
	}
	if err != nil {
		return err
	}
	defer closeServer()
	if o.profile != "" {
		f, err := os.Create(o.profile)
		if err != nil {
			return err
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	fmt.Println(base)
	io.Copy(io.Discard, os.Stdin)
	return nil
}

// startAPI serves the API on a free loopback port.
func startAPI(rdb *redis.Client) (string, func(), error) {
	q, err := queue.NewRedisStream(rdb, queue.StreamConfig{})
	if err != nil {
		return "", nil, err
	}
	s, err := apiserver.New(apiserver.Config{
		Store:           store.New(rdb),
		Queue:           q,
		PlaybackBaseURL: "http://127.0.0.1:1081",
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := apiserver.NewHTTPServer(ln.Addr().String(), s.Handler())
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// startBare serves the ceiling of the read path: net/http and go-redis,
// the stored JSON written as it is, no router, middleware, auth, metrics or
// logs. GET /jobs/{id} is one HGET; GET /jobs?limit=N a ZRANGEBYLEX and an
// HMGET, joined into an array.
func startBare(rdb *redis.Client) (string, func(), error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		b, err := rdb.HGet(r.Context(), store.KeyJobs, r.PathValue("id")).Bytes()
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	})
	mux.HandleFunc("GET /jobs", func(w http.ResponseWriter, r *http.Request) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		ids, err := rdb.ZRangeByLex(r.Context(), store.KeyJobIDs, &redis.ZRangeBy{Min: "-", Max: "+", Count: int64(max(limit, 1))}).Result()
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		out := []byte{'['}
		if len(ids) > 0 {
			vals, err := rdb.HMGet(r.Context(), store.KeyJobs, ids...).Result()
			if err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			size := len(vals) + 2
			for _, v := range vals {
				str, _ := v.(string)
				size += len(str)
			}
			out = append(make([]byte, 0, size), '[')
			for _, v := range vals {
				if str, ok := v.(string); ok {
					if len(out) > 1 {
						out = append(out, ',')
					}
					out = append(out, str...)
				}
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(append(out, ']'))
	})
	return serve(mux)
}

// serve serves h on a free loopback port.
func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// cpuTime is the CPU time (user and system) a process has used so far, 0
// where /proc cannot tell.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: count after it.
	_, rest, _ := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat: 100 on Linux.
const clockTicks = 100
