package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ezlivestreaming/ezlive/bench/internal/benchredis"
	"github.com/ezlivestreaming/ezlive/store"
)

// target is one server the read runs measure side by side: this project's
// API, the bare handler, the original project's api_server.
type target struct {
	name string
	base string
	path string // what is read
	pids []int  // the server's process and its redis-server's, whose CPU time is read
}

// compare measures the targets in o.rounds rounds, one run each per round,
// the order rotating from round to round, and prints each run, each
// target's medians and the ratios of the medians: requests per second, and
// the CPU time of the server and of its Redis per request, which the
// neighbours on a shared machine change less. The load generator's own
// CPU per request is printed too: it shares the cores with the servers.
func (l *loader) compare(ctx context.Context, name string, targets []target) error {
	fmt.Printf("%s, %d conns, %d rounds of %v each:\n", name, l.o.conns, l.o.rounds, l.o.duration)
	runs := make([][]result, len(targets))
	for round := range l.o.rounds {
		for k := range targets {
			i := (round + k) % len(targets)
			t := targets[i]
			r, err := l.throughput(ctx, func() (*http.Request, int) {
				req, _ := http.NewRequest(http.MethodGet, t.base+t.path, nil)
				return req, http.StatusOK
			}, append(t.pids, os.Getpid())...)
			if err != nil {
				return fmt.Errorf("%s, %s: %w", name, t.name, err)
			}
			fmt.Printf("  round %d  %-9s %s  CPU/req: server %v, redis %v, load generator %v\n", round+1, t.name, r, r.cpuPerRequest(0), r.cpuPerRequest(1), r.cpuPerRequest(2))
			runs[i] = append(runs[i], r)
		}
	}
	type medians struct{ rps, server, redis float64 }
	med := make([]medians, len(targets))
	for i, t := range targets {
		med[i] = medians{
			rps:    median(runs[i], func(r result) float64 { return r.rps }),
			server: median(runs[i], func(r result) float64 { return float64(r.cpuPerRequest(0)) }),
			redis:  median(runs[i], func(r result) float64 { return float64(r.cpuPerRequest(1)) }),
		}
		fmt.Printf("  median   %-9s %8.0f req/s  CPU/req: server %v, redis %v  (GET %s)\n", t.name, med[i].rps,
			time.Duration(med[i].server).Round(100*time.Nanosecond), time.Duration(med[i].redis).Round(100*time.Nanosecond), t.path)
	}
	for i := range targets {
		for j := i + 1; j < len(targets); j++ {
			fmt.Printf("  %s / %s: req/s %.2f; CPU/req %.2f server, %.2f redis\n", targets[i].name, targets[j].name,
				med[i].rps/med[j].rps, med[i].server/med[j].server, med[i].redis/med[j].redis)
		}
	}
	fmt.Println()
	return nil
}

func median(rs []result, f func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// original is the original project's api_server (github.com/
// maxutility2011/ezLiveStreaming), built by the caller, run by the bench
// on its own private redis-server with a config file in a temporary
// folder. It needs SQS for nothing the reads do; its POST /jobs stores the
// job and then fails (500) to send it to SQS, which the bench makes quick
// by pointing the AWS client at a closed proxy port.
type original struct {
	base string
	rdb  *redis.Client
	rs   *benchredis.Server
	cmd  *exec.Cmd
	dir  string
}

func startOriginal(bin string) (*original, error) {
	rs, err := benchredis.Start("api-original")
	if err != nil {
		return nil, err
	}
	o := &original{rs: rs, rdb: redis.NewClient(&redis.Options{Addr: rs.Addr})}
	if err := o.start(bin); err != nil {
		o.stop()
		return nil, fmt.Errorf("original api_server %s: %w", bin, err)
	}
	return o, nil
}

func (o *original) start(bin string) error {
	var err error
	if o.dir, err = os.MkdirTemp("", "ezlive-bench-api-original-"); err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(addr)
	rhost, rport, _ := net.SplitHostPort(o.rs.Addr)
	config, _ := json.Marshal(map[string]any{
		"Api_server_hostname": host, "Api_server_port": port,
		"Log_path": filepath.Join(o.dir, "log", "api_server.log"),
		"Sqs":      map[string]string{"Queue_name": "ezlive_job_queue.fifo"},
		"Redis":    map[string]string{"RedisIp": rhost, "RedisPort": rport},
	})
	configPath := filepath.Join(o.dir, "config.json")
	if err := os.WriteFile(configPath, config, 0o600); err != nil {
		return err
	}
	o.cmd = exec.Command(bin, "-config", configPath)
	o.cmd.Dir = o.dir
	o.cmd.Env = append(withoutProxies(os.Environ()),
		"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench")
	if err := o.cmd.Start(); err != nil {
		return err
	}
	o.base = "http://" + addr
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("does not listen on " + addr)
		}
	}
}

func withoutProxies(env []string) []string {
	return slices.DeleteFunc(env, func(kv string) bool {
		name, _, _ := strings.Cut(strings.ToUpper(kv), "=")
		return strings.HasSuffix(name, "_PROXY") || strings.HasPrefix(name, "AWS_")
	})
}

func (o *original) stop() {
	if o.cmd != nil && o.cmd.Process != nil {
		o.cmd.Process.Kill()
		o.cmd.Wait()
	}
	o.rdb.Close()
	o.rs.Stop()
	if o.dir != "" {
		os.RemoveAll(o.dir)
	}
}

// fill creates sample jobs through the original's POST /jobs until its
// Redis holds n, and returns one of their ids.
func (o *original) fill(ctx context.Context, hc *http.Client, conns, n int) (string, error) {
	have, err := o.rdb.HLen(ctx, store.KeyJobs).Result()
	if err != nil {
		return "", err
	}
	missing := int64(n) - have
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for range conns {
		wg.Go(func() {
			for atomic.AddInt64(&missing, -1) >= 0 {
				if err := o.post(ctx, hc); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return "", err
	}
	ids, err := o.rdb.HKeys(ctx, store.KeyJobs).Result()
	if err != nil || len(ids) != n {
		return "", fmt.Errorf("the original's redis holds %d jobs, want %d (%v)", len(ids), n, err)
	}
	return ids[0], nil
}

// post creates one job: 201, or 500 once it is stored and SQS is not
// reachable.
func (o *original) post(ctx context.Context, hc *http.Client) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, o.base+"/jobs", strings.NewReader(sampleJob))
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusInternalServerError {
		return fmt.Errorf("original POST /jobs: status %d: %s", resp.StatusCode, body)
	}
	return nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
