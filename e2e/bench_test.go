package e2e_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/nomad/nomadtest"
	"github.com/ezlivestreaming/ezlive/scheduler"
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
	s.pollJob(id, func(j *jobspec.LiveJob) bool { return j.State == want })
}

// BenchmarkFailover: a streaming job loses its node, against nomadtest's
// timeline of real Nomad (v2.0.5) with the scheduler's default heartbeat
// timeout (10s). "machine": the node dies with its transcoder, and our
// heartbeat notices. "agent": the Nomad client agent alone dies; its
// transcoder streams on until Nomad's node heartbeat TTL (10s in nomadtest)
// expires and the scheduler re-places it. Each reports what its seconds are
// made of, then a stop right after the failover (the old allocation still
// unknown on the dead node). Run: make bench, or
// go test -run '^$' -bench Failover -benchtime 3x ./e2e/
func BenchmarkFailover(b *testing.B) {
	for _, machine := range []bool{true, false} {
		name := map[bool]string{true: "machine", false: "agent"}[machine]
		b.Run(name, func(b *testing.B) {
			s, srv := nomadSystem(b, "-heartbeat-timeout", scheduler.DefaultHeartbeatTimeout.String())
			var phases [5][]time.Duration
			for b.Loop() {
				for i, d := range failoverOnce(b, s, srv, machine) {
					phases[i] = append(phases[i], d)
				}
			}
			for i, unit := range []string{"detect-ms", "place-ms", "reconnect-ms", "total-ms", "stop-after-ms"} {
				b.ReportMetric(float64(median(phases[i]).Milliseconds()), unit)
			}
		})
	}
}

// failoverOnce streams a job, takes its node away and returns the time to
// detect it (kill → new generation recorded), to place it (→ listening),
// for the publisher to reconnect (→ streaming), the total, and how long a
// stop then takes.
func failoverOnce(b *testing.B, s *system, srv *nomadtest.Server, machine bool) [5]time.Duration {
	ctx := context.Background()
	job := createSample(b, s)
	first := s.waitState(job.Id, jobspec.StateRunning, 60*time.Second)
	pub := s.publish(job.Id)
	defer pub.stop()
	s.waitStateFast(job.Id, jobspec.StateStreaming)
	time.Sleep(2 * time.Second)
	start := time.Now()
	if machine {
		srv.KillMachine(first.Assigned_worker_id)
	} else {
		srv.KillAgent(first.Assigned_worker_id)
	}
	var out [5]time.Duration
	moved := s.pollJob(job.Id, func(j *jobspec.LiveJob) bool { return j.Placement_generation > first.Placement_generation })
	out[0] = time.Since(start)
	s.pollJob(job.Id, func(j *jobspec.LiveJob) bool {
		return j.Placement_generation == moved.Placement_generation && j.Listening()
	})
	out[1] = time.Since(start) - out[0]
	s.waitStateFast(job.Id, jobspec.StateStreaming)
	out[3] = time.Since(start)
	out[2] = out[3] - out[0] - out[1]
	stop := time.Now()
	s.client.Stop(ctx, job.Id)
	s.waitStateFast(job.Id, jobspec.StateStopped)
	out[4] = time.Since(stop)
	srv.RestartAgent(first.Assigned_worker_id)
	return out
}

// pollJob polls the job every 5 ms until done holds, for at most a minute.
func (s *system) pollJob(id string, done func(*jobspec.LiveJob) bool) *jobspec.LiveJob {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if j, err := s.client.Get(context.Background(), id); err == nil && done(j) {
			return j
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.t.Fatalf("job %s: condition not reached in a minute", id)
	return nil
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}
