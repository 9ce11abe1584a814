package nomad_test

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/ezlivestreaming/ezlive/internal/testenv"
	"github.com/ezlivestreaming/ezlive/nomad"
	"github.com/ezlivestreaming/ezlive/nomad/nomadtest"
	"github.com/ezlivestreaming/ezlive/scheduler"
)

const pool = "ezlive-workers"

// fixture is a nomadtest server with two worker nodes and a driver on it.
type fixture struct {
	srv     *nomadtest.Server
	driver  *nomad.Driver
	reports string
	nodeA   string
	nodeB   string
}

func newFixture(t *testing.T, cfg nomad.Config, extraArgs ...string) *fixture {
	t.Helper()
	return newFixtureOn(t, fastServer(t, nomadtest.Config{}), cfg, extraArgs...)
}

// fastServer is a nomadtest server with Nomad's failure timeline compressed:
// a dead agent is noticed after 200ms (10s or more on a real cluster).
func fastServer(t *testing.T, cfg nomadtest.Config) *nomadtest.Server {
	t.Helper()
	cfg.Dir = t.TempDir()
	cfg.HeartbeatTTL = 200 * time.Millisecond
	cfg.ClientSyncDelay = 100 * time.Millisecond
	cfg.ClientStopDelay = 200 * time.Millisecond
	srv, err := nomadtest.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func newFixtureOn(t *testing.T, srv *nomadtest.Server, cfg nomad.Config, extraArgs ...string) *fixture {
	t.Helper()
	f := &fixture{srv: srv, reports: t.TempDir()}
	f.nodeA = srv.AddNode(nomadtest.NodeSpec{ID: "node-a", Name: "worker-a", Pool: pool, Class: "transcode"})
	f.nodeB = srv.AddNode(nomadtest.NodeSpec{ID: "node-b", Name: "worker-b", Pool: pool, Class: "transcode"})
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Client = srv.Client()
	cfg.NodePool = pool
	cfg.Command = self
	cfg.RedisAddr = "127.0.0.1:6390"
	cfg.OriginURL = "http://127.0.0.1:1081"
	cfg.ExtraArgs = append([]string{"-report", f.reports}, extraArgs...)
	cfg.RestartDelay = 20 * time.Millisecond
	cfg.KillTimeout = 5 * time.Second
	cfg.LostAfter = cmp.Or(cfg.LostAfter, 2*time.Second)
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	f.driver, err = nomad.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// watch starts the driver's Watch and returns its events once it follows
// the event stream.
func (f *fixture) watch(t *testing.T) <-chan scheduler.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan scheduler.Event, 100)
	done := make(chan error, 1)
	go func() { done <- f.driver.Watch(ctx, events) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	})
	testenv.WaitFor(t, time.Minute, "watch follows the event stream", func() bool { return f.srv.StreamCount() > 0 })
	return events
}

func placement(jobID, nodeID string, gen int64) scheduler.Placement {
	return scheduler.Placement{
		JobID: jobID, NodeID: nodeID, Generation: gen, CPU: 0.5, Memory: 256,
		Summary: "1080p30 6000k, 720p30 3000k", StreamType: "hls",
	}
}

// waitEvent returns the first event that matches, failing on a stuck test.
func waitEvent(t *testing.T, events <-chan scheduler.Event, match func(scheduler.Event) bool) scheduler.Event {
	t.Helper()
	for {
		select {
		case e := <-events:
			if match(e) {
				return e
			}
		case <-time.After(60 * time.Second):
			t.Fatal("no matching event")
		}
	}
}

func isEvent(kind scheduler.EventKind, jobID, nodeID string) func(scheduler.Event) bool {
	return func(e scheduler.Event) bool { return e.Kind == kind && e.JobID == jobID && e.NodeID == nodeID }
}

// starts reads the reports of every start of the job's fake transcoder.
func (f *fixture) starts(t *testing.T, jobID string) []startReport {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(f.reports, jobID+".*.json"))
	var out []startReport
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var r startReport
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func alive(pid int) bool {
	// The nomadtest runner reaps its children, so a dead task is gone.
	return syscall.Kill(pid, 0) == nil
}

func TestNodesListsUsableWorkers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nomad.Config{})
	f.srv.AddNode(nomadtest.NodeSpec{ID: "node-other-pool", Pool: "default"})
	f.srv.AddNode(nomadtest.NodeSpec{ID: "node-down", Pool: pool, Down: true})
	f.srv.AddNode(nomadtest.NodeSpec{ID: "node-ineligible", Pool: pool})
	f.srv.SetEligibility("node-ineligible", false)
	f.srv.AddNode(nomadtest.NodeSpec{ID: "node-big", Pool: pool, Cores: 8, MHzPerCore: 2500, MemoryMB: 16384, Address: "127.0.0.2"})

	nodes, err := f.driver.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []scheduler.Node{
		{ID: "node-a", Name: "worker-a", Address: "127.0.0.1", CPU: 2, Memory: 4096},
		{ID: "node-b", Name: "worker-b", Address: "127.0.0.1", CPU: 2, Memory: 4096},
		{ID: "node-big", Name: "node-node-big", Address: "127.0.0.2", CPU: 8, Memory: 16384},
	}
	slices.SortFunc(nodes, func(a, b scheduler.Node) int { return strings.Compare(a.ID, b.ID) })
	if !slices.Equal(nodes, want) {
		t.Errorf("Nodes:\n got %+v\nwant %+v", nodes, want)
	}
}

func TestPlaceRunsPinnedTranscoder(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nomad.Config{})
	events := f.watch(t)
	ctx := context.Background()
	// node-b sorts after node-a, so only the pin puts the job there.
	if err := f.driver.Place(ctx, placement("job1", f.nodeB, 1)); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, isEvent(scheduler.EventRunning, "job1", f.nodeB))
	testenv.WaitFor(t, time.Minute, "the transcoder reported its start", func() bool { return len(f.starts(t, "job1")) == 1 })
	start := f.starts(t, "job1")[0]

	env := start.Env
	listen := env["NOMAD_IP_ingest"] + ":" + env["NOMAD_PORT_ingest"]
	wantArgs := []string{"-job", "job1", "-generation", "1", "-redis", "127.0.0.1:6390",
		"-origin", "http://127.0.0.1:1081", "-listen", listen, "-report", f.reports}
	if !slices.Equal(start.Args, wantArgs) {
		t.Errorf("transcoder args:\n got %q\nwant %q", start.Args, wantArgs)
	}
	if env["NOMAD_IP_ingest"] != "127.0.0.1" || env["NOMAD_PORT_ingest"] == "" || env["NOMAD_ALLOC_ID"] == "" ||
		env["NOMAD_JOB_ID"] != "ezlive-job1" || env["NOMAD_ALLOC_DIR"] == "" || env["NOMAD_META_ezlive_job_id"] != "job1" {
		t.Errorf("transcoder environment: %v", env)
	}
	var conn net.Conn
	testenv.WaitFor(t, time.Minute, "the transcoder listens on "+listen, func() bool {
		var err error
		conn, err = net.Dial("tcp", listen)
		return err == nil
	})
	line, _ := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if line != "ok\n" {
		t.Errorf("ingest answered %q", line)
	}

	checkNomadJob(t, f.srv.Client(), "job1", f.nodeB, env["NOMAD_ALLOC_ID"])

	// Placing the same generation again is a no-op.
	if err := f.driver.Place(ctx, placement("job1", f.nodeB, 1)); err != nil {
		t.Fatal(err)
	}
	allocs, _, err := f.srv.Client().Jobs().Allocations("ezlive-job1", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(allocs) != 1 || allocs[0].ClientStatus != api.AllocClientStatusRunning {
		t.Errorf("after placing again: %d allocations, want the one running", len(allocs))
	}
}

// checkNomadJob checks what an operator sees with `nomad job status`.
func checkNomadJob(t *testing.T, c *api.Client, jobID, nodeID, allocID string) {
	t.Helper()
	job, _, err := c.Jobs().Info("ezlive-"+jobID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *job.Type != "batch" || *job.NodePool != pool || job.Meta["ezlive_job_id"] != jobID ||
		job.Meta["ezlive_generation"] != "1" || job.Meta["stream_type"] != "hls" || job.Meta["ladder"] == "" {
		t.Errorf("job: type %s pool %s meta %v", *job.Type, *job.NodePool, job.Meta)
	}
	if len(job.Constraints) == 0 || *job.Constraints[0] != *api.NewConstraint("${node.unique.id}", "=", nodeID) {
		t.Errorf("constraints: %+v", job.Constraints)
	}
	tg := job.TaskGroups[0]
	if *tg.ReschedulePolicy.Attempts != 0 || *tg.ReschedulePolicy.Unlimited {
		t.Errorf("reschedule: %+v", tg.ReschedulePolicy)
	}
	if tg.Disconnect == nil || *tg.Disconnect.Replace || *tg.Disconnect.Reconcile != api.ReconcileOptionKeepOriginal {
		t.Errorf("disconnect: %+v", tg.Disconnect)
	}
	if *tg.RestartPolicy.Mode != "fail" || tg.Networks[0].DynamicPorts[0].Label != "ingest" || tg.Tasks[0].Driver != "raw_exec" {
		t.Errorf("group: restart %+v networks %+v", tg.RestartPolicy, tg.Networks)
	}
	if r := tg.Tasks[0].Resources; *r.CPU != 1000 || *r.MemoryMB != 256 { // 0.5 core of 2000 MHz
		t.Errorf("resources: cpu %d MHz, memory %d MB", *r.CPU, *r.MemoryMB)
	}
	alloc, _, err := c.Allocations().Info(allocID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if alloc.NodeID != nodeID || alloc.JobID != "ezlive-"+jobID {
		t.Errorf("allocation on node %s of job %s", alloc.NodeID, alloc.JobID)
	}
}

func TestWatchReportsLostAndNodeDownUp(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nomad.Config{LostAfter: 2 * time.Second})
	events := f.watch(t)
	if err := f.driver.Place(context.Background(), placement("job2", f.nodeA, 1)); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, isEvent(scheduler.EventRunning, "job2", f.nodeA))
	testenv.WaitFor(t, time.Minute, "the transcoder started", func() bool { return len(f.starts(t, "job2")) == 1 })
	pid := f.starts(t, "job2")[0].Pid

	// The agent dies; its transcoder runs on. Nomad disconnects the node,
	// then loses the allocation after lost_after.
	f.srv.KillAgent(f.nodeA)
	waitEvent(t, events, isEvent(scheduler.EventNodeDown, "", f.nodeA))
	unknown := waitEvent(t, events, isEvent(scheduler.EventLost, "job2", f.nodeA))
	lost := waitEvent(t, events, isEvent(scheduler.EventLost, "job2", f.nodeA))
	if !strings.HasPrefix(unknown.Reason, "unknown") || !strings.Contains(lost.Reason, "node is down") {
		t.Errorf("reasons %q, then %q", unknown.Reason, lost.Reason)
	}
	if !alive(pid) {
		t.Error("the transcoder should outlive its agent")
	}
	f.srv.RestartAgent(f.nodeA)
	waitEvent(t, events, isEvent(scheduler.EventNodeUp, "", f.nodeA))
	testenv.WaitFor(t, time.Minute, "the returning node stops its lost transcoder", func() bool { return !alive(pid) })
	// Nomad wants lost allocations replaced and places the replacement, of
	// the old generation, on the returning node (observed on v2.0.5): the
	// scheduler's re-placement supersedes it long before, and e2e checks that
	// one transcoder is left.
}

func TestDisconnectedNodeKeepsItsTranscoder(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nomad.Config{})
	events := f.watch(t)
	if err := f.driver.Place(context.Background(), placement("job9", f.nodeA, 1)); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, isEvent(scheduler.EventRunning, "job9", f.nodeA))
	testenv.WaitFor(t, time.Minute, "the transcoder started", func() bool { return len(f.starts(t, "job9")) == 1 })
	pid := f.starts(t, "job9")[0].Pid

	// The agent restarts within lost_after: the node is reported down and
	// its allocation lost to the scheduler (unknown), but Nomad neither
	// loses nor replaces the allocation. Back, the agent reports it running
	// before the node turns ready (observed on Nomad v2.0.5).
	f.srv.KillAgent(f.nodeA)
	var lost, down scheduler.Event
	waitEvent(t, events, func(e scheduler.Event) bool {
		switch {
		case isEvent(scheduler.EventLost, "job9", f.nodeA)(e):
			lost = e
		case isEvent(scheduler.EventNodeDown, "", f.nodeA)(e):
			down = e
		}
		return lost.Kind != "" && down.Kind != ""
	})
	if !strings.HasPrefix(lost.Reason, "unknown") || lost.Generation != 1 {
		t.Errorf("unknown allocation reported as %+v", lost)
	}
	if !strings.Contains(down.Reason, "disconnected") {
		t.Errorf("node down reason %q", down.Reason)
	}
	testenv.WaitFor(t, time.Minute, "the allocation is unknown", func() bool {
		allocs, _, err := f.srv.Client().Jobs().Allocations("ezlive-job9", true, nil)
		return err == nil && len(allocs) == 1 && allocs[0].ClientStatus == api.AllocClientStatusUnknown
	})
	f.srv.RestartAgent(f.nodeA)
	var got []scheduler.Event
	waitEvent(t, events, func(e scheduler.Event) bool {
		got = append(got, e)
		return e.Kind == scheduler.EventNodeUp
	})
	want := []scheduler.Event{
		{Kind: scheduler.EventRunning, JobID: "job9", NodeID: f.nodeA, Generation: 1},
		{Kind: scheduler.EventNodeUp, NodeID: f.nodeA},
	}
	if !slices.Equal(got, want) {
		t.Errorf("after reconnect:\n got %+v\nwant %+v", got, want)
	}
	if !alive(pid) || len(f.starts(t, "job9")) != 1 {
		t.Error("the original transcoder should have kept running, alone")
	}
}

func TestWatchReportsFailureAfterRestarts(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nomad.Config{RestartAttempts: 2}, "-exit-code", "3")
	events := f.watch(t)
	if err := f.driver.Place(context.Background(), placement("job3", f.nodeA, 1)); err != nil {
		t.Fatal(err)
	}
	failed := waitEvent(t, events, isEvent(scheduler.EventFailed, "job3", f.nodeA))
	if !strings.Contains(failed.Reason, "Exit Code: 3") || !strings.Contains(failed.Reason, "Exceeded allowed attempts 2") {
		t.Errorf("failure reason %q", failed.Reason)
	}
	if n := len(f.starts(t, "job3")); n != 3 {
		t.Errorf("transcoder started %d times, want 1 + 2 restarts", n)
	}
}

func TestStopWaitsThenPurges(t *testing.T) {
	t.Parallel()
	hold := filepath.Join(t.TempDir(), "release")
	f := newFixture(t, nomad.Config{}, "-hold", hold)
	events := f.watch(t)
	ctx := context.Background()
	if err := f.driver.Place(ctx, placement("job4", f.nodeA, 1)); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, isEvent(scheduler.EventRunning, "job4", f.nodeA))
	testenv.WaitFor(t, time.Minute, "the transcoder started", func() bool { return len(f.starts(t, "job4")) == 1 })

	stopped := make(chan error, 1)
	go func() { stopped <- f.driver.Stop(ctx, "job4") }()
	c := f.srv.Client()
	testenv.WaitFor(t, time.Minute, "the job is deregistered", func() bool {
		job, _, err := c.Jobs().Info("ezlive-job4", nil)
		return err == nil && *job.Stop
	})
	// The transcoder is still exiting: the stop stays visible, not purged.
	allocs, _, err := c.Jobs().Allocations("ezlive-job4", true, nil)
	if err != nil || len(allocs) != 1 || allocs[0].ClientStatus != api.AllocClientStatusRunning {
		t.Fatalf("while stopping: allocations %v, err %v", allocs, err)
	}
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned before the transcoder exited: %v", err)
	default:
	}
	if err := os.WriteFile(hold, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, isEvent(scheduler.EventComplete, "job4", f.nodeA))
	// `nomad job status ezlive-<id>` keeps showing the stopped job until
	// the live job is deleted.
	if job, _, err := c.Jobs().Info("ezlive-job4", nil); err != nil || !*job.Stop {
		t.Errorf("after Stop the job should stay, stopped: %v", err)
	}
	if err := f.driver.Stop(ctx, "job4"); err != nil {
		t.Errorf("stopping a job with nothing running: %v", err)
	}
	if err := f.driver.Forget(ctx, "job4"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Jobs().Info("ezlive-job4", nil); !isNotFound(err) {
		t.Errorf("after Forget the job should be purged, got %v", err)
	}
}

// TestStopNeverWaitsOnADisconnectedNode: an allocation whose node is
// disconnected stays unknown for as long as the node is away (real Nomad
// kept one unknown for minutes); Stop must not wait for it, however long
// its StopTimeout.
func TestStopNeverWaitsOnADisconnectedNode(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nomad.Config{StopTimeout: time.Hour})
	events := f.watch(t)
	ctx := context.Background()
	if err := f.driver.Place(ctx, placement("job10", f.nodeA, 1)); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, isEvent(scheduler.EventRunning, "job10", f.nodeA))
	f.srv.KillAgent(f.nodeA)
	waitEvent(t, events, isEvent(scheduler.EventLost, "job10", f.nodeA))
	stopped := make(chan error, 1)
	go func() { stopped <- f.driver.Stop(ctx, "job10") }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Stop is waiting on an allocation whose node is disconnected")
	}
}

func isNotFound(err error) bool {
	var ure api.UnexpectedResponseError
	return errors.As(err, &ure) && ure.StatusCode() == 404
}

func TestPlaceRefusedWithNomadReason(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nomad.Config{})
	f.srv.AddNode(nomadtest.NodeSpec{ID: "node-small", Pool: pool, MemoryMB: 128})
	f.srv.AddNode(nomadtest.NodeSpec{ID: "node-gone", Pool: pool, Down: true})
	cases := []struct {
		node, reason string
	}{
		{"no-such-node", `Constraint "${node.unique.id} = no-such-node": 3 nodes excluded by filter`},
		{"node-small", `Dimension "memory" exhausted on 1 nodes`},
		{"node-gone", `Constraint "${node.unique.id} = node-gone": 3 nodes excluded by filter`},
	}
	for _, tc := range cases {
		err := f.driver.Place(context.Background(), placement("job-"+tc.node, tc.node, 1))
		var pe *scheduler.PlaceError
		if !errors.As(err, &pe) {
			t.Errorf("place on %s: got %v, want a PlaceError", tc.node, err)
			continue
		}
		if pe.NodeID != tc.node || !strings.Contains(pe.Reason, tc.reason) {
			t.Errorf("place on %s: reason %q, want it to contain %q", tc.node, pe.Reason, tc.reason)
		}
		job, _, err := f.srv.Client().Jobs().Info("ezlive-job-"+tc.node, nil)
		if err != nil || !*job.Stop {
			t.Errorf("a refused placement should be withdrawn: %v", err)
		}
	}
}

func TestWatchResumesAfterReconnect(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nomad.Config{})
	events := f.watch(t)
	if err := f.driver.Place(context.Background(), placement("job5", f.nodeB, 1)); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, isEvent(scheduler.EventRunning, "job5", f.nodeB))

	// Events happen while the stream is down (the worker machine dies and
	// its allocation is lost); the watcher must get them from its last
	// index once the agent is back.
	f.srv.PauseEventStreams(true)
	f.srv.KillMachine(f.nodeB)
	testenv.WaitFor(t, time.Minute, "the allocation is lost", func() bool {
		allocs, _, err := f.srv.Client().Jobs().Allocations("ezlive-job5", true, nil)
		return err == nil && len(allocs) == 1 && allocs[0].ClientStatus == api.AllocClientStatusLost
	})
	f.srv.PauseEventStreams(false)
	var got []scheduler.Event
	waitEvent(t, events, func(e scheduler.Event) bool {
		got = append(got, e)
		return e.Kind == scheduler.EventLost
	})
	want := []scheduler.Event{
		{Kind: scheduler.EventNodeDown, NodeID: f.nodeB, Reason: "disconnected"},
		{Kind: scheduler.EventLost, JobID: "job5", NodeID: f.nodeB, Generation: 1, Reason: "unknown: its node is unreachable"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("after reconnect:\n got %+v\nwant %+v", got, want)
	}
}

func TestWatchFallsBackToBlockingQueries(t *testing.T) {
	t.Parallel()
	srv := fastServer(t, nomadtest.Config{NoEventStream: true})
	f := newFixtureOn(t, srv, nomad.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan scheduler.Event, 100)
	go f.driver.Watch(ctx, events)
	testenv.WaitFor(t, time.Minute, "the watcher waits on blocking queries", func() bool { return srv.BlockingQueries() >= 2 })

	if err := f.driver.Place(ctx, placement("job6", f.nodeA, 1)); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, isEvent(scheduler.EventRunning, "job6", f.nodeA))
	srv.KillMachine(f.nodeA)
	waitEvent(t, events, isEvent(scheduler.EventLost, "job6", f.nodeA))
}

func TestPlacementsListsRunningJobs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nomad.Config{})
	events := f.watch(t)
	ctx := context.Background()
	for _, p := range []scheduler.Placement{placement("job7", f.nodeA, 3), placement("job8", f.nodeB, 5)} {
		if err := f.driver.Place(ctx, p); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, events, isEvent(scheduler.EventRunning, p.JobID, p.NodeID))
	}
	if err := f.driver.Stop(ctx, "job8"); err != nil {
		t.Fatal(err)
	}
	got, err := f.driver.Placements(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []scheduler.Running{{JobID: "job7", NodeID: f.nodeA, Generation: 3, Healthy: true}}
	if !slices.Equal(got, want) {
		t.Errorf("Placements:\n got %+v\nwant %+v", got, want)
	}
}

// BenchmarkPlace measures placements registered and evaluated per second
// against nomadtest (each runs /bin/true, which completes at once).
func BenchmarkPlace(b *testing.B) {
	srv := nomadtest.New(b)
	node := srv.AddNode(nomadtest.NodeSpec{ID: "bench", Pool: pool, Cores: 100000, MemoryMB: 1 << 30})
	d, err := nomad.New(nomad.Config{
		Client: srv.Client(), NodePool: pool, Command: "/bin/true",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := d.Nodes(ctx); err != nil { // as the scheduler does first
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		p := placement("bench"+strconv.Itoa(i), node, 1)
		if err := d.Place(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "placements/s")
}

// TestControlPlaneJobsAreNeverLiveJobs: the control plane's own Nomad jobs
// share the prefix ezlive- (ezlive-api, ezlive-scheduler, …). On a real
// cluster the first scheduler took them for placements of deleted live
// jobs and stopped them all; only a job whose meta names the live job, under
// the ID the driver gives it, is one.
func TestControlPlaneJobsAreNeverLiveJobs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nomad.Config{})
	c := f.srv.Client()
	for id, meta := range map[string]map[string]string{
		"ezlive-api":       nil,
		"ezlive-scheduler": {"owner": "ops"},
		"ezlive-origin":    {nomad.MetaJobID: "something-else"},
	} {
		job := &api.Job{
			ID: new(id), Name: new(id), Type: new(api.JobTypeService), NodePool: new(pool), Meta: meta,
			TaskGroups: []*api.TaskGroup{{
				Name: new("g"), Count: new(1),
				Tasks: []*api.Task{{Name: "t", Driver: "raw_exec", Config: map[string]any{"command": "sleep", "args": []any{"300"}},
					Resources: &api.Resources{CPU: new(100), MemoryMB: new(32)}}},
			}},
		}
		if _, _, err := c.Jobs().Register(job, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.driver.Place(context.Background(), placement("job11", f.nodeA, 1)); err != nil {
		t.Fatal(err)
	}
	running, err := f.driver.Placements(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(running) != 1 || running[0].JobID != "job11" {
		t.Fatalf("placements %+v, want job11 alone", running)
	}
}

// TestNoUsableNodeNamesThePool: a dev agent's node is in node pool
// "default"; a driver set for "ezlive-workers" must say so, naming the
// node, rather than "no worker node is ready".
func TestNoUsableNodeNamesThePool(t *testing.T) {
	t.Parallel()
	srv := nomadtest.New(t)
	srv.AddNode(nomadtest.NodeSpec{ID: "dev-node", Name: "laptop", Pool: "default"})
	d, err := nomad.New(nomad.Config{Client: srv.Client(), NodePool: pool, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Nodes(context.Background())
	var none *scheduler.NoNodesError
	if !errors.As(err, &none) {
		t.Fatalf("Nodes: %v, want a NoNodesError", err)
	}
	for _, want := range []string{`node pool "ezlive-workers"`, `laptop (in node pool "default")`} {
		if !strings.Contains(none.Reason, want) {
			t.Errorf("reason %q does not say %q", none.Reason, want)
		}
	}
}

// TestNewGenerationStartsBeforeNomadNoticesADeadNode: the job's node dies
// with its transcoder, and the scheduler (by its own heartbeat) places the
// next generation on the other node long before Nomad's node heartbeat TTL
// expires. Registered over the old version, the new allocation would wait
// for the old one to be terminal or unknown, which real Nomad only says
// once the TTL expires; the new generation must start at once.
func TestNewGenerationStartsBeforeNomadNoticesADeadNode(t *testing.T) {
	t.Parallel()
	srv, err := nomadtest.Start(nomadtest.Config{Dir: t.TempDir(), HeartbeatTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	f := newFixtureOn(t, srv, nomad.Config{})
	ctx := context.Background()
	if err := f.driver.Place(ctx, placement("job12", f.nodeA, 1)); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, time.Minute, "the first transcoder started", func() bool { return len(f.starts(t, "job12")) == 1 })
	srv.KillMachine(f.nodeA)
	if err := f.driver.Place(ctx, placement("job12", f.nodeB, 2)); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, time.Minute, "the second generation started on the other node", func() bool {
		for _, st := range f.starts(t, "job12") {
			if slices.Contains(st.Args, "-generation") && st.Args[slices.Index(st.Args, "-generation")+1] == "2" {
				return true
			}
		}
		return false
	})
}
