package e2e_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/testfeed"
)

// benchJobs is how many jobs a create→running figure is the median of.
const benchJobs = 20

// BenchmarkCreateToRunning: POST /jobs until the job's RTMP listener is
// ready (state running), median of 20, through the local driver and through
// the Nomad driver against nomadtest. Run: make bench, or
// go test -run '^$' -bench CreateToRunning -benchtime 1x ./e2e/
func BenchmarkCreateToRunning(b *testing.B) {
	b.Run("local", func(b *testing.B) {
		createToRunning(b, startSystem(b, []string{"-queue", "redis"}))
	})
	b.Run("nomad", func(b *testing.B) {
		s, _ := nomadSystem(b)
		createToRunning(b, s)
	})
}

func createToRunning(b *testing.B, s *system) {
	var took []time.Duration
	for b.Loop() {
		took = took[:0]
		for range benchJobs {
			start := time.Now()
			job := createSample(b, s)
			s.waitStateFast(job.Id, jobspec.StateRunning)
			took = append(took, time.Since(start))
			s.client.Stop(context.Background(), job.Id)
		}
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Milliseconds()), "median-ms")
	b.ReportMetric(float64(took[len(took)*9/10].Milliseconds()), "p90-ms")
}

// waitStateFast polls every 5 ms, so the figure is not the poll interval.
func (s *system) waitStateFast(id string, want jobspec.State) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if j, err := s.client.Get(context.Background(), id); err == nil && j.State == want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.t.Fatalf("job %s never reached %s", id, want)
}

// BenchmarkNodeDeathToStreaming: a streaming job's node dies; time until it
// streams again on another node, split into detection and re-placement
// (machine death → Nomad misses its heartbeat, 10s as nomadtest's default
// → new placement running: listener ready) and the publisher's reconnect
// (the encoder learns the new ingest URL and media flows again).
func BenchmarkNodeDeathToStreaming(b *testing.B) {
	s, srv := nomadSystem(b)
	ctx := context.Background()
	for b.Loop() {
		job := createSample(b, s)
		s.waitState(job.Id, jobspec.StateRunning, 60*time.Second)
		s.pushUntilStreaming(job.Id)
		feeds := testfeed.New("ffmpeg", nil)
		first, _ := s.client.Get(ctx, job.Id)
		feeds.Start(ctx, first)
		time.Sleep(2 * time.Second)
		start := time.Now()
		srv.KillMachine(first.Assigned_worker_id)
		var moved *jobspec.LiveJob
		for moved == nil || moved.Placement_generation == first.Placement_generation || moved.State != jobspec.StateRunning {
			moved, _ = s.client.Get(ctx, job.Id)
			time.Sleep(5 * time.Millisecond)
		}
		replaced := time.Since(start)
		feeds.Stop(job.Id)
		feeds.Start(ctx, moved) // the encoder reconnects to the new ingest URL
		s.waitStateFast(job.Id, jobspec.StateStreaming)
		total := time.Since(start)
		feeds.Close()
		b.ReportMetric(float64(replaced.Milliseconds()), "detect+replace-ms")
		b.ReportMetric(float64((total - replaced).Milliseconds()), "reconnect-ms")
		b.ReportMetric(float64(total.Milliseconds()), "total-ms")
		srv.RestartAgent(first.Assigned_worker_id)
		s.client.Stop(ctx, job.Id)
	}
}
