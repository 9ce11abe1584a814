// Command api benchmarks the HTTP API (issue 3 §8, issue 15 §4): a private
// redis-server and the API in this process on 127.0.0.1, then concurrent
// keep-alive clients. It prints figures and asserts nothing. It owns no
// package state.
//
// The read runs (get, list) measure side by side, in alternating rounds,
// the API, a bare net/http + go-redis handler on the same Redis (the
// ceiling: the stored JSON written as it is) and, with -original, the
// original project's api_server on a Redis of its own, built by hand:
//
//	git --git-dir=<fetched ezLiveStreaming> archive HEAD | tar -x -C /tmp/orig
//	(cd /tmp/orig && go build -o /tmp/orig/bin/api_server ./api_server)
//	go run ./bench/api [-original /tmp/orig/bin/api_server] [-rounds 3] [-conns 64] [-duration 5s] [-jobs 10000] [-page 100]
package main

import (
	"context"
	"flag"
	"fmt"
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

	"github.com/ezlivestreaming/ezlive/bench/internal/benchhttp"
	"github.com/ezlivestreaming/ezlive/bench/internal/benchredis"
	"github.com/ezlivestreaming/ezlive/store"
)

// sampleJob is the original project's sample without DRM
// (specs/sample_live_job_without_drm.json there), which both APIs take.
const sampleJob = `{"Output":{"Stream_type":"hls","Segment_format":"fmp4","Fragment_duration":1,"Segment_duration":4,"Low_latency_mode":0,"Time_shift_buffer_depth":120,"S3_output":{"Bucket":"bzhang-test-bucket-public"},
"Video_outputs":[{"Label":"video365k","Codec":"h264","Framerate":25,"Width":640,"Height":360,"Bitrate":"365k","Max_bitrate":"500k","Buf_size":"500k","Preset":"faster","Crf":27,"Threads":2},
{"Label":"video550k","Codec":"h264","Framerate":25,"Width":768,"Height":432,"Bitrate":"550k","Max_bitrate":"750k","Buf_size":"750k","Preset":"faster","Crf":27,"Threads":2}],
"Audio_outputs":[{"Codec":"aac","Bitrate":"128k"}]}}`

type options struct {
	conns    int
	duration time.Duration
	warmup   time.Duration
	jobs     int
	page     int
	walks    int
	profile  string
	runs     string
	rounds   int
	listJobs int
	original string
}

func main() {
	var o options
	flag.IntVar(&o.conns, "conns", 64, "concurrent keep-alive connections")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "measured time of each throughput run")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load before each throughput run")
	flag.IntVar(&o.jobs, "jobs", 10000, "jobs stored for the pagination run")
	flag.IntVar(&o.page, "page", 100, "page size (limit) of the pagination run")
	flag.IntVar(&o.walks, "walks", 3, "times the pagination run walks every page")
	flag.StringVar(&o.runs, "runs", "get,list,pages,post", "which runs to do, comma-separated")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds of the side-by-side read runs (get, list); medians are printed")
	flag.IntVar(&o.listJobs, "list-jobs", 100, "jobs stored for the list run, which reads them all (the original has no limit)")
	flag.StringVar(&o.original, "original", "", "the original project's api_server binary, to measure beside ours in the read runs")
	flag.StringVar(&o.profile, "cpuprofile", "", "write a CPU profile of the API's process, the whole run, to this file")
	serve := flag.String("serve", "", "internal: be the server process of this role (api, bare)")
	serveRedis := flag.String("serve-redis", "", "internal: the Redis of -serve")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	run := run
	if *serve != "" {
		run = func(context.Context, options) error { return serveRole(*serve, *serveRedis, o) }
	}
	err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/api:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	fmt.Println("command:", strings.Join(append([]string{"go run ./bench/api"}, os.Args[1:]...), " "))
	fmt.Printf("machine: %d CPUs, GOMAXPROCS %d, %s; API, redis-server and load generator share it\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())

	rs, err := benchredis.Start("api")
	if err != nil {
		return err
	}
	defer rs.Stop()
	// One Redis connection per concurrent request, so the pool is not the
	// bottleneck being measured.
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr, PoolSize: o.conns + 16})
	defer rdb.Close()

	api, err := startChild("api", rs.Addr, o)
	if err != nil {
		return err
	}
	defer api.stop()
	bare, err := startChild("bare", rs.Addr, o)
	if err != nil {
		return err
	}
	defer bare.stop()
	var orig *original
	if o.original != "" {
		if orig, err = startOriginal(o.original); err != nil {
			return err
		}
		defer orig.stop()
		fmt.Printf("original: %s, its own redis-server %s\n", orig.base, orig.rs.Addr)
	}
	fmt.Printf("api: %s  bare handler: %s  their redis-server: %s\n", api.base, bare.base, rs.Addr)
	fmt.Println("each server, each redis-server and this load generator is a process of its own")
	fmt.Println()

	hc := &http.Client{Transport: &http.Transport{
		MaxIdleConns: 4 * o.conns, MaxIdleConnsPerHost: o.conns, MaxConnsPerHost: o.conns,
		IdleConnTimeout: time.Minute, DisableCompression: true,
	}}
	l := &loader{hc: hc, base: api.base, o: o}

	// The list run reads every stored job, pagination exactly o.jobs: they
	// go in this order.
	runs := strings.Split(o.runs, ",")
	if slices.Contains(runs, "get") {
		if err := l.readRun(ctx, rdb, rs, orig, api, bare, 1, "GET /jobs/:id", "/jobs/"); err != nil {
			return err
		}
	}
	if slices.Contains(runs, "list") {
		path := fmt.Sprintf("/jobs?limit=%d", o.listJobs)
		if err := l.readRun(ctx, rdb, rs, orig, api, bare, o.listJobs, path+fmt.Sprintf(", %d jobs stored", o.listJobs), path); err != nil {
			return err
		}
	}
	if slices.Contains(runs, "pages") {
		if err := l.fill(ctx, rdb, o.jobs); err != nil {
			return err
		}
		if err := l.paginate(ctx, o.jobs, o.page); err != nil {
			return err
		}
	}
	if slices.Contains(runs, "post") {
		return l.postRun(ctx)
	}
	return nil
}

// readRun stores n jobs in each Redis and compares the targets reading
// path: a list, or, when path ends in "/", one of the jobs.
func (l *loader) readRun(ctx context.Context, rdb *redis.Client, rs *benchredis.Server, orig *original, api, bare *child, n int, name, path string) error {
	if err := l.fill(ctx, rdb, n); err != nil {
		return err
	}
	ids, err := rdb.ZRangeByLex(ctx, store.KeyJobIDs, &redis.ZRangeBy{Min: "-", Max: "+", Count: 1}).Result()
	if err != nil {
		return err
	}
	one := strings.HasSuffix(path, "/")
	at := func(id string) string {
		if one {
			return path + id
		}
		return path
	}
	targets := []target{
		{"ours", api.base, at(ids[0]), []int{api.cmd.Process.Pid, rs.Pid()}},
		{"bare", bare.base, at(ids[0]), []int{bare.cmd.Process.Pid, rs.Pid()}},
	}
	if orig != nil {
		id, err := orig.fill(ctx, l.hc, l.o.conns, n)
		if err != nil {
			return err
		}
		// The original has no limit: GET /jobs is every job.
		targets = append(targets, target{"original", orig.base, strings.TrimSuffix(at(id), fmt.Sprintf("?limit=%d", n)),
			[]int{orig.cmd.Process.Pid, orig.rs.Pid()}})
	}
	return l.compare(ctx, name, targets)
}

// loader drives the API with concurrent keep-alive connections.
type loader struct {
	hc   *http.Client
	base string
	o    options
}

func (l *loader) createOne(ctx context.Context) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, l.base+"/jobs", strings.NewReader(sampleJob))
	h, err := benchhttp.Call(l.hc, req, http.StatusCreated)
	if err != nil {
		return "", err
	}
	return strings.TrimPrefix(h.Get("Location"), "/jobs/"), nil
}

// postRun creates sample jobs.
func (l *loader) postRun(ctx context.Context) error {
	r, err := l.throughput(ctx, func() (*http.Request, int) {
		req, _ := http.NewRequest(http.MethodPost, l.base+"/jobs", strings.NewReader(sampleJob))
		req.Header.Set("Content-Type", "application/json")
		return req, http.StatusCreated
	})
	if err != nil {
		return fmt.Errorf("POST /jobs: %w", err)
	}
	fmt.Printf("%-16s %d conns, %s\n", "POST /jobs", l.o.conns, r)
	return nil
}

// result is one throughput run's requests per second and latencies.
type result struct {
	elapsed  time.Duration
	rps      float64
	p50, p99 time.Duration
	n        int
	cpu      []time.Duration // CPU time each watched process used in the measured part
}

// cpuPerRequest is process i's CPU time per request.
func (r result) cpuPerRequest(i int) time.Duration {
	if r.n == 0 {
		return 0
	}
	return r.cpu[i] / time.Duration(r.n)
}

func (r result) String() string {
	return fmt.Sprintf("%v: %8.0f req/s  p50 %-9v p99 %-9v (%d requests)",
		r.elapsed.Round(time.Millisecond), r.rps, r.p50, r.p99, r.n)
}

// throughput runs o.conns workers for the warm-up and then o.duration, and
// measures requests per second and latency percentiles of the requests that
// completed in the measured part. Workers finish their request in flight
// before stopping, so nothing is cut off mid-way.
// The CPU time of the processes pids is read around the measured part.
func (l *loader) throughput(ctx context.Context, next func() (*http.Request, int), pids ...int) (result, error) {
	var measuring, finished atomic.Bool
	var failed atomic.Pointer[error]
	lat := make([][]time.Duration, l.o.conns)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for w := range l.o.conns {
		wg.Go(func() {
			for !finished.Load() && ctx.Err() == nil {
				req, want := next()
				start := time.Now()
				if _, err := benchhttp.Call(l.hc, req.WithContext(ctx), want); err != nil {
					if ctx.Err() == nil {
						failed.CompareAndSwap(nil, &err)
						cancel()
					}
					return
				}
				if measuring.Load() {
					lat[w] = append(lat[w], time.Since(start))
				}
			}
		})
	}
	sleep(ctx, l.o.warmup)
	cpu := make([]time.Duration, len(pids))
	for i, pid := range pids {
		cpu[i] = -cpuTime(pid)
	}
	measuring.Store(true)
	start := time.Now()
	sleep(ctx, l.o.duration)
	measuring.Store(false)
	elapsed := time.Since(start)
	for i, pid := range pids {
		cpu[i] += cpuTime(pid)
	}
	finished.Store(true)
	wg.Wait()
	if err := failed.Load(); err != nil {
		return result{}, *err
	}
	if err := ctx.Err(); err != nil {
		return result{}, err
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	return result{elapsed: elapsed, rps: float64(len(all)) / elapsed.Seconds(),
		p50: pct(all, 50), p99: pct(all, 99), n: len(all), cpu: cpu}, nil
}

// fill creates jobs through the API until the store holds n.
func (l *loader) fill(ctx context.Context, rdb *redis.Client, n int) error {
	have, err := rdb.ZCard(ctx, store.KeyJobIDs).Result()
	if err != nil {
		return fmt.Errorf("count jobs: %w", err)
	}
	missing := int64(n) - have
	var wg sync.WaitGroup
	errs := make(chan error, l.o.conns)
	for range l.o.conns {
		wg.Go(func() {
			for atomic.AddInt64(&missing, -1) >= 0 {
				if _, err := l.createOne(ctx); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// paginate walks GET /jobs page by page along the Link headers.
func (l *loader) paginate(ctx context.Context, stored, limit int) error {
	var lat []time.Duration
	for range l.o.walks {
		path := fmt.Sprintf("/jobs?limit=%d", limit)
		for path != "" {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, l.base+path, nil)
			start := time.Now()
			h, err := benchhttp.Call(l.hc, req, http.StatusOK)
			if err != nil {
				return err
			}
			lat = append(lat, time.Since(start))
			path = nextPath(h.Get("Link"))
		}
	}
	slices.Sort(lat)
	fmt.Printf("%-16s %d jobs stored, limit %d: %d pages per walk, %d walks: p50 %v per page, p99 %v\n",
		"GET /jobs pages", stored, limit, len(lat)/l.o.walks, l.o.walks, pct(lat, 50), pct(lat, 99))
	return nil
}

// nextPath is the target of a rel="next" Link header, "" without one.
func nextPath(link string) string {
	target, params, ok := strings.Cut(link, ";")
	if !ok || !strings.Contains(params, `rel="next"`) {
		return ""
	}
	return strings.Trim(strings.TrimSpace(target), "<>")
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)].Round(time.Microsecond)
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
