// Command fleet simulates a fleet of transcoder nodes against the real
// control plane (issue: control plane, item 1) and prints what it costs.
// It runs, in this process, the API (apiserver over the real store) and
// -schedulers real schedulers (package scheduler), all on a private
// redis-server with persistence as in production (appendonly yes,
// appendfsync everysec; automatic AOF rewrites off, see persist). The
// cluster is simulated: a scheduler.Driver over -nodes nodes that places
// at once and starts, for each placement, a simulated transcoder (a
// goroutine, no ffmpeg, no media) that heartbeats every second through the
// same store call as a real one.
//
// It creates -jobs jobs through POST /jobs (the sample spec) and prints
// how long until all stream. Then come two -window windows, the first with
// no API load and the second with -clients clients reading jobs. For each
// it prints the heartbeats achieved, Redis's commands/s, CPU, AOF growth,
// network bytes and memory per job, and this process's CPU (API,
// schedulers, simulated transcoders and the clients together, since they
// share it). For the second it also prints GET /jobs/:id and
// GET /jobs?limit=100 latency. Last, it kills -kill nodes at once (their
// transcoders stop, the driver reports node_down) and prints how long
// until each of their jobs streams again elsewhere. It prints figures and
// asserts nothing.
//
//	go run ./bench/fleet [-nodes 1000] [-jobs 10000] [-schedulers 1] [-window 20s] [-kill 50]
//	go run ./bench/fleet -nodes 100 -jobs 1000    # about a minute on 2 cores
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ezlivestreaming/ezlive/apiserver"
	"github.com/ezlivestreaming/ezlive/bench/internal/benchhttp"
	"github.com/ezlivestreaming/ezlive/bench/internal/benchredis"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/queue"
	"github.com/ezlivestreaming/ezlive/scheduler"
	"github.com/ezlivestreaming/ezlive/store"
)

type options struct {
	nodes, jobs, schedulers, kill, clients int
	window, timeout                        time.Duration
	spec                                   string
}

func main() {
	var o options
	flag.IntVar(&o.nodes, "nodes", 1000, "simulated nodes")
	flag.IntVar(&o.jobs, "jobs", 10000, "jobs created through the API")
	flag.IntVar(&o.schedulers, "schedulers", 1, "scheduler instances (in this process)")
	flag.IntVar(&o.kill, "kill", 50, "nodes killed at once for the failover figure")
	flag.IntVar(&o.clients, "clients", 4, "concurrent API clients measuring latency over the window")
	flag.DurationVar(&o.window, "window", 20*time.Second, "measured steady-state window")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up waiting for jobs to stream after this long")
	flag.StringVar(&o.spec, "spec", "jobspec/testdata/sample_live_job.json", "spec of every job")
	flag.Parse()
	if o.nodes < 1 || o.jobs < 1 || o.schedulers < 1 || o.clients < 1 || o.kill < 0 || o.kill >= o.nodes {
		fmt.Fprintln(os.Stderr, "bench/fleet: -nodes, -jobs, -schedulers and -clients must be positive, -kill below -nodes")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/fleet:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	fmt.Println("command:", strings.Join(append([]string{"go run ./bench/fleet"}, os.Args[1:]...), " "))
	fmt.Printf("machine: %d CPUs, %s; API, %d scheduler(s), %d simulated transcoders, load clients (this process) and redis-server share it\n",
		runtime.NumCPU(), runtime.Version(), o.schedulers, o.jobs)
	body, err := os.ReadFile(o.spec)
	if err != nil {
		return err
	}
	spec, _, err := jobspec.Parse(body)
	if err != nil {
		return fmt.Errorf("%s: %w", o.spec, err)
	}
	rs, err := benchredis.Start("fleet")
	if err != nil {
		return err
	}
	defer rs.Stop()
	if err := persist(ctx, rs.Addr); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cpu := nodeCPU(jobspec.EstimateCost(spec).CPU, o)
	f := newFleet(ctx, store.New(client(rs.Addr, 64)), o.nodes, cpu)
	fmt.Printf("cluster: %d nodes of %.2f cores; %d jobs of the sample spec\n\n", o.nodes, cpu, o.jobs)
	if err := startSchedulers(ctx, rs.Addr, f, o.schedulers); err != nil {
		return err
	}
	base, err := startAPI(ctx, rs.Addr, o.jobs)
	if err != nil {
		return err
	}
	return phases(ctx, o, f, base, client(rs.Addr, 8), body)
}

// phases are the three measurements, in order.
func phases(ctx context.Context, o options, f *fleet, base string, rdb *redis.Client, body []byte) error {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32, DisableCompression: true}}
	start := time.Now()
	ids, err := createJobs(ctx, hc, base, body, o.jobs)
	if err != nil {
		return err
	}
	created := time.Since(start)
	if err := waitStreaming(ctx, f, ids, o.timeout); err != nil {
		return err
	}
	fmt.Printf("start: %d jobs created through POST /jobs in %v; all streaming %v after the first POST (%d transcoders started)\n\n",
		o.jobs, created.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), f.placed.Load())
	if err := steady(ctx, o, f, rdb, hc, base, ids); err != nil {
		return err
	}
	return failover(ctx, o, f)
}

// nodeCPU gives each node room for its share of the jobs even after the
// -kill nodes die, with 20% to spare.
func nodeCPU(jobCPU float64, o options) float64 {
	slots := math.Ceil(1.2*float64(o.jobs)/float64(o.nodes-o.kill)) + 1
	return slots * jobCPU
}

func client(addr string, pool int) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, PoolSize: pool})
}

// persist turns on the append-only file as production runs Redis, and
// waits for the rewrite that starts it. Automatic rewrites are off, so
// that the AOF's growth is what the commands append (a rewrite writes the
// dataset once more, about used_memory, whenever the file has doubled).
func persist(ctx context.Context, addr string) error {
	rdb := client(addr, 1)
	defer rdb.Close()
	for _, kv := range [][2]string{{"appendfsync", "everysec"}, {"auto-aof-rewrite-percentage", "0"}, {"appendonly", "yes"}} {
		if err := rdb.ConfigSet(ctx, kv[0], kv[1]).Err(); err != nil {
			return fmt.Errorf("redis CONFIG SET %s %s: %w", kv[0], kv[1], err)
		}
	}
	for {
		info, err := rdb.Info(ctx, "persistence").Result()
		if err != nil {
			return err
		}
		if benchredis.InfoNumber(info, "aof_rewrite_in_progress") == 0 && benchredis.InfoNumber(info, "aof_enabled") == 1 {
			return nil
		}
		if !sleep(ctx, 50*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// startSchedulers runs n schedulers, each with its own Redis client and
// queue consumer, as separate processes would have, until ctx ends.
func startSchedulers(ctx context.Context, addr string, d scheduler.Driver, n int) error {
	for i := range n {
		rdb := client(addr, 16)
		q, err := queue.NewRedisStream(rdb, queue.StreamConfig{Consumer: fmt.Sprintf("fleet-scheduler-%d", i)})
		if err != nil {
			return err
		}
		s, err := scheduler.New(scheduler.Config{
			Store: store.New(rdb), Queue: q, Driver: d, Instance: fmt.Sprintf("fleet-scheduler-%d", i),
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		})
		if err != nil {
			return err
		}
		go s.Run(ctx)
	}
	return nil
}

// startAPI serves the API on a free loopback port until ctx ends, its
// queue cap and client quota raised to take every job of the run.
func startAPI(ctx context.Context, addr string, jobs int) (string, error) {
	rdb := client(addr, 64)
	q, err := queue.NewRedisStream(rdb, queue.StreamConfig{})
	if err != nil {
		return "", err
	}
	s, err := apiserver.New(apiserver.Config{
		Store: store.New(rdb), Queue: q, PlaybackBaseURL: "http://127.0.0.1:1081",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxQueued: jobs + 1, ClientQuota: jobs + 1,
	})
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := apiserver.NewHTTPServer(ln.Addr().String(), s.Handler())
	go srv.Serve(ln)
	context.AfterFunc(ctx, func() { srv.Close() })
	return "http://" + ln.Addr().String(), nil
}

// createJobs posts n jobs from 16 clients and returns their ids.
func createJobs(ctx context.Context, hc *http.Client, base string, body []byte, n int) ([]string, error) {
	ids := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/jobs", strings.NewReader(string(body)))
				req.Header.Set("Content-Type", "application/json")
				resp, err := benchhttp.Call(hc, req, http.StatusCreated)
				if err != nil {
					errs <- err
					return
				}
				ids[i] = strings.TrimPrefix(resp.Get("Location"), "/jobs/")
			}
		})
	}
	wg.Wait()
	close(errs)
	return ids, <-errs
}

// waitStreaming waits until every job has streamed.
func waitStreaming(ctx context.Context, f *fleet, ids []string, timeout time.Duration) error {
	jobs := make(map[string]int64, len(ids))
	for _, id := range ids {
		jobs[id] = 0
	}
	_, err := waitAll(ctx, f, jobs, timeout)
	return err
}

// waitAll waits until each job (id → generation) streams with a later
// generation, and returns when each did.
func waitAll(ctx context.Context, f *fleet, jobs map[string]int64, timeout time.Duration) ([]time.Time, error) {
	start := time.Now()
	deadline, progress := start.Add(timeout), start.Add(10*time.Second)
	for {
		at := f.streamingSince(jobs)
		if len(at) == len(jobs) {
			return at, nil
		}
		if time.Now().After(progress) {
			fmt.Fprintf(os.Stderr, "  %d of %d jobs streaming after %v\n", len(at), len(jobs), time.Since(start).Round(time.Second))
			progress = progress.Add(10 * time.Second)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d of %d jobs streaming after %v", len(at), len(jobs), timeout)
		}
		if !sleep(ctx, 20*time.Millisecond) {
			return nil, ctx.Err()
		}
	}
}

// failover kills o.kill nodes and prints how long their jobs took to
// stream again elsewhere.
func failover(ctx context.Context, o options, f *fleet) error {
	if o.kill == 0 {
		return nil
	}
	t0, placed := time.Now(), f.placed.Load()
	lost := f.killNodes(o.kill)
	at, err := waitAll(ctx, f, lost, o.timeout)
	if err != nil {
		return fmt.Errorf("failover: %w", err)
	}
	all := time.Since(t0)
	took := make([]time.Duration, len(at))
	for i, t := range at {
		took[i] = t.Sub(t0)
	}
	slices.Sort(took)
	fmt.Printf("failover: %d nodes killed at once, %d jobs on them: streaming again elsewhere after median %v, max %v; all seen streaming after %v (%d transcoders started)\n",
		o.kill, len(lost), pct(took, 50), pct(took, 100), all.Round(time.Millisecond), f.placed.Load()-placed)
	return nil
}
