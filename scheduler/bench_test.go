package scheduler_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/scheduler"
	"github.com/ezlivestreaming/ezlive/scheduler/schedulertest"
)

// benchNodes and benchJobs are the scale of issue 4's target: placement
// decisions per second with 1,000 nodes and 10,000 jobs in Redis.
const benchNodes, benchJobs = 1000, 10000

func manyNodes() []scheduler.Node {
	nodes := make([]scheduler.Node, benchNodes)
	for i := range nodes {
		nodes[i] = scheduler.Node{ID: fmt.Sprintf("node%04d", i), CPU: 16}
	}
	return nodes
}

// BenchmarkChoose is the pure decision over a snapshot of 1,000 nodes.
func BenchmarkChoose(b *testing.B) {
	nodes := manyNodes()
	loads := map[string]float64{}
	for i, n := range nodes {
		loads[n.ID] = float64(i%16) * 0.9
	}
	for _, st := range []scheduler.Strategy{scheduler.LeastLoaded, scheduler.RoundRobin, scheduler.Random} {
		b.Run(string(st), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				scheduler.Choose(nodes, loads, scheduler.Request{CPU: 0.28, Turn: uint64(i)}, st)
			}
		})
	}
}

// BenchmarkPlaceJob is whole placements through Redis, with 10,000 jobs
// already placed on 1,000 nodes: lock the jobs and read them, rotate their
// upload tokens and read worker_cpu, decide, reserve their cores (one
// script that re-checks each node), record the placements, hand them to the
// driver and unlock. batch=1 is one job per ReconcileJob (a command at a
// time); batch=10 is what one queue receive brings (SQS's ceiling);
// batch=100 is waiting jobs retried together. schedulers=3 is the
// fleet's three schedulers, each handling its own receives of 10 at the
// same time on one Redis and one node set, as they share a command queue:
// placements/s is all of theirs together.
func BenchmarkPlaceJob(b *testing.B) {
	for _, c := range []struct{ size, schedulers int }{{1, 1}, {10, 1}, {100, 1}, {10, 3}} {
		b.Run(fmt.Sprintf("batch=%d,schedulers=%d", c.size, c.schedulers), func(b *testing.B) { benchPlace(b, c.size, c.schedulers) })
	}
}

func benchPlace(b *testing.B, size, schedulers int) {
	f := newFixture(b, schedulertest.NewDriver(manyNodes()...))
	ctx := context.Background()
	spec := sampleSpec(b)
	create := func(id string) {
		job := &jobspec.LiveJob{Id: id, StreamKey: "k" + id, Spec: spec, Time_created: time.Now()}
		job.SetState(jobspec.StateCreated, "bench", time.Now())
		if err := f.store.CreateJob(ctx, job); err != nil {
			b.Fatal(err)
		}
	}
	cost := jobspec.EstimateCost(spec).CPU
	for i := range benchJobs {
		id := fmt.Sprintf("existing%05d", i)
		create(id)
		if err := f.store.Reserve(ctx, fmt.Sprintf("node%04d", i%benchNodes), id, cost); err != nil {
			b.Fatal(err)
		}
	}
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench%07d", i)
		create(ids[i])
	}
	scheds := []*scheduler.Scheduler{f.sched}
	for i := 1; i < schedulers; i++ {
		scheds = append(scheds, f.newScheduler(b, fmt.Sprint("s", i+1)))
	}
	// The batches are dealt out in turn, as a shared queue hands each
	// receive different commands.
	batches := slices.Collect(slices.Chunk(ids, size))
	b.ResetTimer()
	var wg sync.WaitGroup
	for k, s := range scheds {
		wg.Go(func() {
			for i := k; i < len(batches); i += len(scheds) {
				for id, err := range s.ReconcileJobs(ctx, batches[i]) {
					if err != nil {
						b.Error(id, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "placements/s")
}
