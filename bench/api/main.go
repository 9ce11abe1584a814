// Command api benchmarks the HTTP API (issue 3 §8): a private redis-server
// and the API in this process on 127.0.0.1, then concurrent keep-alive
// clients. It prints figures and asserts nothing. It owns no package state.
//
//	go run ./bench/api [-conns 64] [-duration 5s] [-jobs 10000] [-page 100]
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ezlivestreaming/ezlive/apiserver"
	"github.com/ezlivestreaming/ezlive/bench/internal/benchredis"
	"github.com/ezlivestreaming/ezlive/queue"
	"github.com/ezlivestreaming/ezlive/store"
)

// sampleJob is the original project's sample (jobspec/testdata).
const sampleJob = `{"Output":{"Stream_type":"dash","Segment_format":"fmp4","Segment_duration":4,"Low_latency_mode":false,
"Video_outputs":[{"Label":"video365k","Codec":"h264","Framerate":25,"Width":640,"Height":360,"Bitrate":"365k","Max_bitrate":"500k","Buf_size":"500k","Preset":"faster","Threads":2,"Gop_size":2},
{"Label":"video550k","Codec":"h264","Framerate":25,"Width":768,"Height":432,"Bitrate":"550k","Max_bitrate":"750k","Buf_size":"750k","Preset":"faster","Threads":2,"Gop_size":2}],
"Audio_outputs":[{"Label":"audio128k","Codec":"aac","Bitrate":"128k"}]}}`

type options struct {
	conns    int
	duration time.Duration
	warmup   time.Duration
	jobs     int
	page     int
	walks    int
	profile  string
	runs     string
}

func main() {
	var o options
	flag.IntVar(&o.conns, "conns", 64, "concurrent keep-alive connections")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "measured time of each throughput run")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load before each throughput run")
	flag.IntVar(&o.jobs, "jobs", 10000, "jobs stored for the pagination run")
	flag.IntVar(&o.page, "page", 100, "page size (limit) of the pagination run")
	flag.IntVar(&o.walks, "walks", 3, "times the pagination run walks every page")
	flag.StringVar(&o.runs, "runs", "get,post,pages", "which runs to do, comma-separated")
	flag.StringVar(&o.profile, "cpuprofile", "", "write a CPU profile of the whole run (API, client and all) to this file")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o); err != nil {
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

	base, closeAPI, err := startAPI(rdb)
	if err != nil {
		return err
	}
	defer closeAPI()
	if o.profile != "" {
		f, err := os.Create(o.profile)
		if err != nil {
			return err
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	fmt.Printf("api: %s  redis: %s\n\n", base, rs.Addr)

	hc := &http.Client{Transport: &http.Transport{
		MaxIdleConns: o.conns, MaxIdleConnsPerHost: o.conns, MaxConnsPerHost: o.conns,
		IdleConnTimeout: time.Minute, DisableCompression: true,
	}}
	l := &loader{hc: hc, base: base, o: o}

	// Pagination first, so that it sees exactly o.jobs jobs.
	runs := strings.Split(o.runs, ",")
	if slices.Contains(runs, "pages") {
		if err := l.fill(ctx, rdb, o.jobs); err != nil {
			return err
		}
		if err := l.paginate(ctx, o.jobs, o.page); err != nil {
			return err
		}
	}
	if slices.Contains(runs, "get") {
		if err := l.getRun(ctx); err != nil {
			return err
		}
	}
	if slices.Contains(runs, "post") {
		return l.postRun(ctx)
	}
	return nil
}

// loader drives the API with concurrent keep-alive connections.
type loader struct {
	hc   *http.Client
	base string
	o    options
}

// call does one request and drains the body so the connection is reused.
func (l *loader) call(req *http.Request, want int) (http.Header, error) {
	resp, err := l.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: status %d: %s", req.Method, req.URL.Path, resp.StatusCode, bytes.TrimSpace(body))
	}
	return resp.Header, nil
}

func (l *loader) createOne(ctx context.Context) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, l.base+"/jobs", strings.NewReader(sampleJob))
	h, err := l.call(req, http.StatusCreated)
	if err != nil {
		return "", err
	}
	return strings.TrimPrefix(h.Get("Location"), "/jobs/"), nil
}

// getRun reads one job over and over.
func (l *loader) getRun(ctx context.Context) error {
	id, err := l.createOne(ctx)
	if err != nil {
		return err
	}
	return l.throughput(ctx, "GET /jobs/:id", func() (*http.Request, int) {
		req, _ := http.NewRequest(http.MethodGet, l.base+"/jobs/"+id, nil)
		return req, http.StatusOK
	})
}

// postRun creates sample jobs.
func (l *loader) postRun(ctx context.Context) error {
	return l.throughput(ctx, "POST /jobs", func() (*http.Request, int) {
		req, _ := http.NewRequest(http.MethodPost, l.base+"/jobs", strings.NewReader(sampleJob))
		req.Header.Set("Content-Type", "application/json")
		return req, http.StatusCreated
	})
}

// throughput runs o.conns workers for the warm-up and then o.duration, and
// prints requests per second and latency percentiles of the requests that
// completed in the measured part. Workers finish their request in flight
// before stopping, so nothing is cut off mid-way.
func (l *loader) throughput(ctx context.Context, name string, next func() (*http.Request, int)) error {
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
				if _, err := l.call(req.WithContext(ctx), want); err != nil {
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
	measuring.Store(true)
	start := time.Now()
	sleep(ctx, l.o.duration)
	measuring.Store(false)
	elapsed := time.Since(start)
	finished.Store(true)
	wg.Wait()
	if err := failed.Load(); err != nil {
		return fmt.Errorf("%s: %w", name, *err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	fmt.Printf("%-16s %d conns, %v: %8.0f req/s  p50 %-9v p99 %-9v (%d requests)\n", name, l.o.conns,
		elapsed.Round(time.Millisecond), float64(len(all))/elapsed.Seconds(),
		pct(all, 50), pct(all, 99), len(all))
	return nil
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
			h, err := l.call(req, http.StatusOK)
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
