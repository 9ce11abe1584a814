package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ezlivestreaming/ezlive/bench/internal/benchhttp"
	"github.com/ezlivestreaming/ezlive/bench/internal/benchredis"
)

// sample is what the window's figures are differences of.
type sample struct {
	at         time.Time
	self       float64 // this process's CPU seconds
	redis      string  // INFO stats, cpu, memory, persistence
	heartbeats int64   // the fleet's so far
}

func take(ctx context.Context, rdb *redis.Client, f *fleet) (sample, error) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	info, err := rdb.Info(ctx, "stats", "cpu", "memory", "persistence").Result()
	return sample{at: time.Now(), self: tv(ru.Utime) + tv(ru.Stime), redis: info, heartbeats: f.heartbeats.Load()}, err
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// rate is an INFO counter's growth per second between two samples.
func rate(a, b sample, name string) float64 {
	return (benchredis.InfoNumber(b.redis, name) - benchredis.InfoNumber(a.redis, name)) / b.at.Sub(a.at).Seconds()
}

// steady measures two windows while every job heartbeats: with no API
// load, then with o.clients clients reading jobs; for each, Redis's and
// this process's cost, and for the second the API's latency.
func steady(ctx context.Context, o options, f *fleet, rdb *redis.Client, hc *http.Client, base string, ids []string) error {
	fmt.Printf("steady state, %d jobs heartbeating every second, %v windows:\n", len(ids), o.window)
	for _, clients := range []int{0, o.clients} {
		a, err := take(ctx, rdb, f)
		if err != nil {
			return err
		}
		one, page, err := readLoad(ctx, hc, base, ids, clients, o.window)
		if err != nil {
			return err
		}
		b, err := take(ctx, rdb, f)
		if err != nil {
			return err
		}
		fmt.Printf(" %d API clients reading:\n", clients)
		printCosts(a, b, len(ids))
		if clients > 0 {
			fmt.Printf("  GET /jobs/:id       p50 %-9v p90 %-9v p99 %-9v (%d requests)\n", pct(one, 50), pct(one, 90), pct(one, 99), len(one))
			fmt.Printf("  GET /jobs?limit=100 p50 %-9v p90 %-9v p99 %-9v (%d requests)\n", pct(page, 50), pct(page, 90), pct(page, 99), len(page))
		}
	}
	fmt.Println()
	return nil
}

// printCosts prints Redis's and this process's cost between two samples.
func printCosts(a, b sample, jobs int) {
	secs := b.at.Sub(a.at).Seconds()
	hb := float64(b.heartbeats-a.heartbeats) / secs
	fmt.Printf("  heartbeats: %.0f/s of the %d/s due\n", hb, jobs)
	cpu := func(s sample) float64 {
		return benchredis.InfoNumber(s.redis, "used_cpu_user") + benchredis.InfoNumber(s.redis, "used_cpu_sys")
	}
	fmt.Printf("  redis: %.0f commands/s (instantaneous_ops_per_sec %.0f), CPU %.1f%% of a core\n",
		rate(a, b, "total_commands_processed"), benchredis.InfoNumber(b.redis, "instantaneous_ops_per_sec"), 100*(cpu(b)-cpu(a))/secs)
	aof := rate(a, b, "aof_current_size")
	fmt.Printf("  redis writes: AOF grows %.0f KiB/s (%.2f KiB per heartbeat)%s; network in %.0f KiB/s, out %.0f KiB/s\n",
		aof/1024, aof/1024/hb, rewrites(a, b), rate(a, b, "total_net_input_bytes")/1024, rate(a, b, "total_net_output_bytes")/1024)
	fmt.Printf("  redis memory: used_memory %.1f MiB, %.1f KiB per job\n",
		benchredis.InfoNumber(b.redis, "used_memory")/(1<<20), benchredis.InfoNumber(b.redis, "used_memory")/1024/float64(jobs))
	fmt.Printf("  this process (API, schedulers, simulated transcoders, clients): CPU %.1f%% of a core\n", 100*(b.self-a.self)/secs)
}

// rewrites notes an AOF rewrite during the window, which makes its
// growth meaningless.
func rewrites(a, b sample) string {
	if n := benchredis.InfoNumber(b.redis, "aof_rewrites") - benchredis.InfoNumber(a.redis, "aof_rewrites"); n > 0 || benchredis.InfoNumber(b.redis, "aof_rewrite_in_progress") > 0 {
		return " (an AOF rewrite ran in the window: growth not comparable)"
	}
	return ""
}

// readLoad runs clients that each alternate GET /jobs/:id (a random job)
// and GET /jobs?limit=100 for d (none: it just waits d), and returns both
// latencies, sorted.
func readLoad(ctx context.Context, hc *http.Client, base string, ids []string, clients int, d time.Duration) (one, page []time.Duration, err error) {
	window, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var mu sync.Mutex
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			var o, p []time.Duration
			for window.Err() == nil {
				err := timed(window, hc, base+"/jobs/"+ids[rand.N(len(ids))], &o)
				if err == nil {
					err = timed(window, hc, base+"/jobs?limit=100", &p)
				}
				if err != nil && window.Err() == nil {
					failed.CompareAndSwap(nil, &err)
					cancel()
				}
			}
			mu.Lock()
			one, page = append(one, o...), append(page, p...)
			mu.Unlock()
		})
	}
	<-window.Done()
	wg.Wait()
	slices.Sort(one)
	slices.Sort(page)
	if e := failed.Load(); e != nil {
		return nil, nil, *e
	}
	return one, page, ctx.Err()
}

// timed does one GET and appends its latency, unless the window ended
// during it.
func timed(ctx context.Context, hc *http.Client, url string, lat *[]time.Duration) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	start := time.Now()
	if _, err := benchhttp.Call(hc, req, http.StatusOK); err != nil {
		return err
	}
	*lat = append(*lat, time.Since(start))
	return nil
}

// pct is the p-th percentile of sorted durations.
func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)].Round(time.Microsecond)
}
