// Command queue measures what a backlog of waiting jobs costs when nothing
// changes (issue 19, F2): for each queue length, a private redis-server, N
// jobs waiting in queued_jobs on a cluster with no room, and a scheduler in
// this process; after a warm-up, the scheduler's CPU (this process) and
// Redis's (INFO cpu) over an idle window. It prints medians and asserts
// nothing.
//
//	go run ./bench/queue [-jobs 2000,10000] [-window 10s] [-runs 3]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ezlivestreaming/ezlive/bench/internal/benchredis"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/scheduler"
	"github.com/ezlivestreaming/ezlive/scheduler/schedulertest"
	"github.com/ezlivestreaming/ezlive/store"
)

type options struct {
	jobs   []int
	window time.Duration
	warmup time.Duration
	runs   int
	spec   string
}

// figures are one idle window's costs.
type figures struct {
	sched, redis float64 // CPU, % of one core
	commands     float64 // Redis commands/s
}

func main() {
	var o options
	jobs := flag.String("jobs", "2000,10000", "queue lengths to measure, comma-separated")
	flag.DurationVar(&o.window, "window", 10*time.Second, "measured idle time")
	flag.DurationVar(&o.warmup, "warmup", 3*time.Second, "time the scheduler runs before the window (its first look at every job)")
	flag.IntVar(&o.runs, "runs", 3, "runs of each length; medians are printed")
	flag.StringVar(&o.spec, "spec", "jobspec/testdata/sample_live_job.json", "spec of every waiting job")
	flag.Parse()
	for _, s := range strings.Split(*jobs, ",") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bench/queue: -jobs: %q is not a positive number\n", s)
			os.Exit(2)
		}
		o.jobs = append(o.jobs, n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/queue:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	fmt.Println("command:", strings.Join(append([]string{"go run ./bench/queue"}, os.Args[1:]...), " "))
	fmt.Printf("machine: %d CPUs, %s; scheduler and redis-server share it; %s idle window, medians of %d runs\n\n",
		runtime.NumCPU(), runtime.Version(), o.window, o.runs)
	fmt.Printf("%-8s %16s %16s %18s\n", "waiting", "scheduler CPU", "redis CPU", "redis commands/s")
	var first figures
	for i, n := range o.jobs {
		var all []figures
		for range o.runs {
			f, err := measure(ctx, n, o)
			if err != nil {
				return err
			}
			all = append(all, f)
		}
		m := median(all)
		fmt.Printf("%-8d %15.1f%% %15.1f%% %18.0f\n", n, m.sched, m.redis, m.commands)
		if i == 0 {
			first = m
		} else {
			fmt.Printf("  ×%.1f the jobs: ×%.2f scheduler CPU, ×%.2f redis CPU\n",
				float64(n)/float64(o.jobs[0]), m.sched/first.sched, m.redis/first.redis)
		}
	}
	return nil
}

// measure runs one scheduler over n waiting jobs and returns its idle cost.
func measure(ctx context.Context, n int, o options) (figures, error) {
	rs, err := benchredis.Start("queue")
	if err != nil {
		return figures{}, err
	}
	defer rs.Stop()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rdb.Close()
	st := store.New(rdb)
	if err := fill(ctx, st, n, o.spec); err != nil {
		return figures{}, err
	}
	sched, err := scheduler.New(scheduler.Config{
		Store: st, Driver: schedulertest.NewDriver(scheduler.Node{ID: "full", CPU: 0.01}),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return figures{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sched.Run(ctx) }()
	defer func() { cancel(); <-done }()
	wait(ctx, o.warmup)
	cpu0, r0, c0, err := sample(ctx, rdb)
	if err != nil {
		return figures{}, err
	}
	wait(ctx, o.window)
	cpu1, r1, c1, err := sample(ctx, rdb)
	if err != nil {
		return figures{}, err
	}
	secs := o.window.Seconds()
	return figures{sched: 100 * (cpu1 - cpu0) / secs, redis: 100 * (r1 - r0) / secs, commands: (c1 - c0) / secs}, ctx.Err()
}

// fill stores n sample jobs waiting for capacity, as a scheduler that found
// no room leaves them.
func fill(ctx context.Context, st *store.Store, n int, specFile string) error {
	body, err := os.ReadFile(specFile)
	if err != nil {
		return err
	}
	spec, _, err := jobspec.Parse(body)
	if err != nil {
		return fmt.Errorf("%s: %w", specFile, err)
	}
	now := time.Now()
	for i := range n {
		job := &jobspec.LiveJob{Id: fmt.Sprintf("waiting%06d", i), StreamKey: fmt.Sprintf("key%06d", i), Spec: spec, Time_created: now}
		job.SetState(jobspec.StateCreated, "waiting for capacity: bench", now)
		if err := st.CreateJob(ctx, job); err != nil {
			return err
		}
		if err := st.Enqueue(ctx, job.Id); err != nil {
			return err
		}
	}
	return nil
}

// sample reads this process's CPU seconds, Redis's, and Redis's command count.
func sample(ctx context.Context, rdb *redis.Client) (self, redisCPU, commands float64, err error) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	self = tv(ru.Utime) + tv(ru.Stime)
	info, err := rdb.Info(ctx, "cpu", "stats").Result()
	if err != nil {
		return 0, 0, 0, err
	}
	return self, benchredis.InfoNumber(info, "used_cpu_user") + benchredis.InfoNumber(info, "used_cpu_sys"), benchredis.InfoNumber(info, "total_commands_processed"), nil
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

func median(all []figures) figures {
	pick := func(get func(figures) float64) float64 {
		v := make([]float64, len(all))
		for i, f := range all {
			v[i] = get(f)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return figures{
		sched:    pick(func(f figures) float64 { return f.sched }),
		redis:    pick(func(f figures) float64 { return f.redis }),
		commands: pick(func(f figures) float64 { return f.commands }),
	}
}

// wait waits d, or until ctx ends.
func wait(ctx context.Context, d time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	<-ctx.Done()
}
