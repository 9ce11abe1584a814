package e2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/nomad"
	"github.com/ezlivestreaming/ezlive/nomad/nomadtest"
)

// nomadSystem is the platform with the Nomad driver against nomadtest, with
// two worker nodes.
func nomadSystem(t testing.TB, schedArgs ...string) (*system, *nomadtest.Server) {
	t.Helper()
	srv, err := nomadtest.Start(nomadtest.Config{Dir: t.TempDir(), HeartbeatInterval: time.Second, MinPort: 33000, MaxPort: 34999})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	s := startSystemWith(t, []string{"-queue", "redis"}, append([]string{"-driver", "nomad"}, schedArgs...), "NOMAD_ADDR="+srv.URL)
	// The workers' settings come from their agents' environment, as from
	// the env file terraform writes; the scheduler passes none.
	env := map[string]string{"EZLIVE_REDIS_ADDR": s.redis.Addr, "EZLIVE_ORIGIN_URL": s.originURL}
	for _, id := range []string{"node-a", "node-b"} {
		srv.AddNode(nomadtest.NodeSpec{ID: id, Name: id, Pool: "ezlive-workers", Cores: 2, Env: env})
	}
	return s, srv
}

func createSample(t testing.TB, s *system) *jobspec.LiveJob {
	t.Helper()
	body, err := os.ReadFile("../jobspec/testdata/sample_live_job.json")
	if err != nil {
		t.Fatal(err)
	}
	job, err := s.client.Create(context.Background(), body, false)
	if err != nil {
		t.Fatal(err)
	}
	return job
}

// transcoders lists the pids of a job's transcoder processes.
func transcoders(jobID string) []int {
	var out []int
	for _, pid := range processesWith(jobID) {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.Contains(string(cmdline), "transcoder\x00") {
			out = append(out, pid)
		}
	}
	return out
}

// TestNomadTranscoderKilledRestartsInPlace: kill -9 the transcoder; Nomad's
// restart policy brings it back on the same node with the same generation,
// and the stream resumes once the publisher reconnects.
func TestNomadTranscoderKilledRestartsInPlace(t *testing.T) {
	t.Parallel()
	s, _ := nomadSystem(t)
	job := createSample(t, s)
	running := s.waitState(job.Id, jobspec.StateRunning, 60*time.Second)
	pids := transcoders(job.Id)
	if len(pids) != 1 {
		t.Fatalf("transcoders %v, want one", pids)
	}
	syscall.Kill(pids[0], syscall.SIGKILL)
	s.waitFor(30*time.Second, "a new transcoder", func() (bool, string) {
		now := transcoders(job.Id)
		return len(now) == 1 && now[0] != pids[0], fmt.Sprintf("transcoders %v", now)
	})
	s.pushUntilStreaming(job.Id)
	after, err := s.client.Get(context.Background(), job.Id)
	if err != nil {
		t.Fatal(err)
	}
	if after.Assigned_worker_id != running.Assigned_worker_id || after.Placement_generation != running.Placement_generation {
		t.Fatalf("restart in place moved the job: node %s→%s gen %d→%d", running.Assigned_worker_id, after.Assigned_worker_id,
			running.Placement_generation, after.Placement_generation)
	}
}

// TestNomadNodeDownReplacesAndFences: the Nomad agent of the job's node dies
// and its transcoder runs on; once Nomad misses the agent's heartbeat (10s)
// the job is re-placed on the other node with a new ingest URL, and the old
// transcoder is fenced: it stops itself and the origin takes no more writes
// from it. Nomad cannot stop it before the agent is back.
func TestNomadNodeDownReplacesAndFences(t *testing.T) {
	t.Parallel()
	s, srv := nomadSystem(t)
	job := createSample(t, s)
	first := s.waitState(job.Id, jobspec.StateRunning, 60*time.Second)
	s.pushUntilStreaming(job.Id)
	old := transcoders(job.Id)
	srv.KillAgent(first.Assigned_worker_id)
	var moved *jobspec.LiveJob
	s.waitFor(45*time.Second, "re-placement on the other node", func() (bool, string) {
		j, err := s.client.Get(context.Background(), job.Id)
		if err != nil {
			return false, err.Error()
		}
		moved = j
		ok := j.Assigned_worker_id != first.Assigned_worker_id && j.State == jobspec.StateRunning && j.Ingest_addr != ""
		return ok, fmt.Sprintf("%s on %s (%s)", j.State, j.Assigned_worker_id, j.State_reason)
	})
	if moved.Placement_generation <= first.Placement_generation || moved.Ingest_addr == first.Ingest_addr {
		t.Fatalf("re-placement kept generation %d / transcoder address %s", moved.Placement_generation, moved.Ingest_addr)
	}
	var replaced jobspec.Event
	for _, e := range moved.Events {
		if e.To == jobspec.StateCreated && e.From != "" {
			t.Fatalf("the re-placement went back to created: %+v", e)
		}
		if e.To == jobspec.StateScheduled && (e.From == jobspec.StateStreaming || e.From == jobspec.StateRunning) {
			replaced = e
		}
	}
	if moved.Placement_attempts != 1 || !strings.Contains(replaced.Reason, "node "+first.Assigned_worker_id+" down") &&
		!strings.Contains(replaced.Reason, "allocation lost") {
		t.Fatalf("re-placement: attempts %d, running → scheduled because %q", moved.Placement_attempts, replaced.Reason)
	}
	if moved.RtmpIngestUrl != first.RtmpIngestUrl {
		t.Fatalf("the ingest URL changed with the re-placement: %s → %s", first.RtmpIngestUrl, moved.RtmpIngestUrl)
	}
	if moved.Id != first.Id || moved.StreamKey != first.StreamKey {
		t.Fatal("re-placement changed the job's identity")
	}
	s.waitFor(20*time.Second, "the stale transcoder to stop itself", func() (bool, string) {
		for _, pid := range old {
			if syscall.Kill(pid, 0) == nil {
				if stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); !strings.Contains(string(stat), ") Z") {
					return false, fmt.Sprintf("pid %d still runs", pid)
				}
			}
		}
		return true, ""
	})
	oldGen := fmt.Sprintf("-g%dp", first.Placement_generation)
	before := filesWith(s.originRoot, job.Id, oldGen)
	time.Sleep(3 * time.Second)
	if after := filesWith(s.originRoot, job.Id, oldGen); after != before {
		t.Fatalf("the stale generation still writes to the origin: %d files, then %d", before, after)
	}
	srv.RestartAgent(first.Assigned_worker_id)
	s.pushUntilStreaming(job.Id)
	if n := len(transcoders(job.Id)); n != 1 {
		t.Fatalf("%d transcoders after the old node came back, want 1", n)
	}
}

// TestNomadSchedulerKilledDuringPlacement: kill -9 the scheduler at several
// points after a job is created (before, during and after its placement);
// another scheduler finishes the work and every job is placed exactly once.
func TestNomadSchedulerKilledDuringPlacement(t *testing.T) {
	t.Parallel()
	s, srv := nomadSystem(t)
	var jobs []*jobspec.LiveJob
	for _, delay := range []time.Duration{0, 5 * time.Millisecond, 20 * time.Millisecond, 60 * time.Millisecond, 150 * time.Millisecond} {
		job := createSample(t, s)
		time.Sleep(delay)
		s.killScheduler()
		s.startScheduler()
		jobs = append(jobs, job)
	}
	for _, job := range jobs {
		s.waitState(job.Id, jobspec.StateRunning, 60*time.Second)
	}
	time.Sleep(2 * time.Second) // room for a duplicate to show up
	registered, _, err := srv.Client().Jobs().List(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, job := range jobs {
		if pids := transcoders(job.Id); len(pids) != 1 {
			t.Errorf("job %s: transcoders %v, want exactly one", job.Id, pids)
		}
		n := 0
		for _, j := range registered {
			if j.ID == nomad.NomadJobID(job.Id) && j.Status != "dead" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("job %s: %d live Nomad jobs, want 1", job.Id, n)
		}
	}
}

func filesWith(root, jobID, part string) int {
	files, _ := filepath.Glob(filepath.Join(root, jobID, "*"))
	n := 0
	for _, f := range files {
		if strings.Contains(filepath.Base(f), part) {
			n++
		}
	}
	return n
}
