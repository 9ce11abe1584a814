package nomadtest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/ezlivestreaming/ezlive/nomad/nomadtest"
)

func shellJob(id, script string) *api.Job {
	task := api.NewTask("main", "raw_exec").
		SetConfig("command", "/bin/sh").
		SetConfig("args", []string{"-c", script}).
		Require(&api.Resources{CPU: new(100), MemoryMB: new(64)})
	task.Env = map[string]string{"GREETING": "hello ${NOMAD_JOB_ID}"}
	tg := api.NewTaskGroup("g", 1).AddTask(task)
	tg.RestartPolicy = &api.RestartPolicy{Attempts: new(1), Delay: new(10 * time.Millisecond), Mode: new("fail")}
	return api.NewBatchJob(id, id, "global", 50).AddTaskGroup(tg)
}

// waitAlloc follows the job's allocation with blocking queries until it is
// terminal.
func waitAlloc(t *testing.T, c *api.Client, jobID string) *api.AllocationListStub {
	t.Helper()
	var index uint64
	for {
		allocs, qm, err := c.Jobs().Allocations(jobID, true, &api.QueryOptions{WaitIndex: index, WaitTime: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if len(allocs) == 1 && allocs[0].ClientStatus != "pending" && allocs[0].ClientStatus != "running" {
			return allocs[0]
		}
		index = qm.LastIndex
	}
}

func TestBatchTaskCompletesOrFails(t *testing.T) {
	t.Parallel()
	srv := nomadtest.New(t)
	srv.AddNode(nomadtest.NodeSpec{ID: "n1"})
	c := srv.Client()
	cases := []struct {
		script, status string
		restarts       uint64
	}{
		{`test "$GREETING" = "hello ok" && test -n "$NOMAD_ALLOC_ID"`, "complete", 0},
		{"exit 7", "failed", 1},
	}
	for i, tc := range cases {
		id := []string{"ok", "bad"}[i]
		if _, _, err := c.Jobs().Register(shellJob(id, tc.script), nil); err != nil {
			t.Fatal(err)
		}
		a := waitAlloc(t, c, id)
		if a.ClientStatus != tc.status || a.TaskStates["main"].Restarts != tc.restarts || a.NodeID != "n1" {
			t.Errorf("%s: status %s after %d restarts on %s, want %s after %d", id, a.ClientStatus,
				a.TaskStates["main"].Restarts, a.NodeID, tc.status, tc.restarts)
		}
		job, _, err := c.Jobs().Info(id, nil)
		if err != nil || *job.Status != "dead" {
			t.Errorf("%s: job status %v, err %v; want dead", id, job, err)
		}
	}
}

func TestBlockingQueryAndEventStream(t *testing.T) {
	t.Parallel()
	srv := nomadtest.New(t)
	c := srv.Client()
	_, qm, err := c.Nodes().List(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := c.EventStream().Stream(ctx, map[api.Topic][]string{api.TopicNode: {"*"}}, qm.LastIndex+1, nil)
	if err != nil {
		t.Fatal(err)
	}
	listed := make(chan []*api.NodeListStub, 1)
	go func() {
		nodes, _, _ := c.Nodes().List(&api.QueryOptions{WaitIndex: qm.LastIndex, WaitTime: time.Minute})
		listed <- nodes
	}()
	for srv.BlockingQueries() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	srv.AddNode(nomadtest.NodeSpec{ID: "n2"})
	if nodes := <-listed; len(nodes) != 1 || nodes[0].ID != "n2" {
		t.Errorf("blocking query answered %v", nodes)
	}
	frame := <-stream
	if frame.Err != nil || len(frame.Events) != 1 || frame.Events[0].Type != "NodeRegistration" {
		t.Fatalf("event frame %+v", frame)
	}
	if n, err := frame.Events[0].Node(); err != nil || n.ID != "n2" || n.Status != "ready" {
		t.Errorf("node event payload %+v, %v", n, err)
	}
}

// The failure timeline of a node whose agent dies, after Nomad v2.0.5 as
// observed (FACTS.md §A–§D), with the durations compressed: heartbeat TTL
// 200ms, lost_after 1s.
const lostAfter = time.Second

func timelineServer(t *testing.T) (*nomadtest.Server, string) {
	t.Helper()
	dir := t.TempDir()
	srv, err := nomadtest.Start(nomadtest.Config{
		Dir: dir, HeartbeatTTL: 200 * time.Millisecond,
		ClientSyncDelay: 100 * time.Millisecond, ClientStopDelay: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	for _, id := range []string{"n1", "n2"} {
		srv.AddNode(nomadtest.NodeSpec{ID: id, Pool: "workers"})
	}
	return srv, dir
}

// pinnedJob is the shape of ezlive's transcoder job: batch, pinned to a
// node, restart mode fail, reschedule off, and (withDisconnect) a disconnect
// block with replace = false. The task writes its pid for the test.
func pinnedJob(node, gen string, withDisconnect bool) *api.Job {
	task := api.NewTask("transcoder", "raw_exec").
		SetConfig("command", "/bin/sh").
		SetConfig("args", []string{"-c", `echo $$ > "$NOMAD_ALLOC_DIR/pid"; exec sleep 100000`}).
		Require(&api.Resources{CPU: new(100), MemoryMB: new(32)})
	tg := api.NewTaskGroup("transcoder", 1).AddTask(task)
	tg.RestartPolicy = &api.RestartPolicy{Attempts: new(3), Interval: new(5 * time.Minute), Delay: new(100 * time.Millisecond), Mode: new("fail")}
	tg.ReschedulePolicy = &api.ReschedulePolicy{Attempts: new(0), Unlimited: new(false)}
	if withDisconnect {
		tg.Disconnect = &api.DisconnectStrategy{LostAfter: new(lostAfter), Replace: new(false), Reconcile: new(api.ReconcileOptionKeepOriginal)}
	}
	job := api.NewBatchJob("ezlive-test1", "ezlive-test1", "global", 50).AddTaskGroup(tg)
	job.NodePool = new("workers")
	job.Meta = map[string]string{"gen": gen}
	return job.Constrain(api.NewConstraint("${node.unique.id}", "=", node))
}

// timeline follows the event stream and renders, after every frame, node
// n1's status and each allocation of the job as "a<i>=client/desired@node",
// allocations numbered in order of creation.
type timeline struct {
	t      *testing.T
	srv    *nomadtest.Server
	frames <-chan *api.Events
	node   string
	ids    []string
	allocs map[string]*api.Allocation
	seen   []string
}

func followTimeline(t *testing.T, srv *nomadtest.Server) *timeline {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	topics := map[api.Topic][]string{api.TopicNode: {"n1"}, api.TopicAllocation: {"*"}}
	frames, err := srv.Client().EventStream().Stream(ctx, topics, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &timeline{t: t, srv: srv, frames: frames, node: "ready", allocs: map[string]*api.Allocation{}}
}

func (tl *timeline) render() string {
	out := "n1=" + tl.node
	for i, id := range tl.ids {
		a := tl.allocs[id]
		out += fmt.Sprintf(" a%d=%s/%s@%s", i, a.ClientStatus, a.DesiredStatus, a.NodeID)
	}
	return out
}

// await consumes frames until the rendered state is want and returns the
// distinct states seen on the way, want included.
func (tl *timeline) await(want string) []string {
	tl.t.Helper()
	states := []string{}
	timeout := time.After(30 * time.Second)
	for {
		select {
		case f := <-tl.frames:
			if f.Err != nil {
				tl.t.Fatal(f.Err)
			}
			for _, ev := range f.Events {
				if n, _ := ev.Node(); n != nil {
					tl.node = n.Status
				}
				if a, _ := ev.Allocation(); a != nil {
					if tl.allocs[a.ID] == nil {
						tl.ids = append(tl.ids, a.ID)
					}
					tl.allocs[a.ID] = a
				}
			}
			if s := tl.render(); len(tl.seen) == 0 || tl.seen[len(tl.seen)-1] != s {
				states = append(states, s)
				tl.seen = append(tl.seen, s)
			}
			if len(states) > 0 && states[len(states)-1] == want {
				return states
			}
		case <-timeout:
			tl.t.Fatalf("timed out waiting for %q; saw %q", want, states)
		}
	}
}

// quiet asserts that nothing changes for d.
func (tl *timeline) quiet(d time.Duration) {
	tl.t.Helper()
	before := tl.render()
	deadline := time.After(d)
	for {
		select {
		case f := <-tl.frames:
			for _, ev := range f.Events {
				if a, _ := ev.Allocation(); a != nil && tl.allocs[a.ID] != nil {
					if old := tl.allocs[a.ID]; old.ClientStatus != a.ClientStatus || old.DesiredStatus != a.DesiredStatus {
						tl.t.Fatalf("allocation changed during %v: %s, now %s/%s", d, before, a.ClientStatus, a.DesiredStatus)
					}
				}
			}
		case <-deadline:
			return
		}
	}
}

func (tl *timeline) alloc(i int) *api.Allocation { return tl.allocs[tl.ids[i]] }

func taskPid(t *testing.T, dir, allocID string) int {
	t.Helper()
	var pid int
	for range 500 {
		b, _ := os.ReadFile(filepath.Join(dir, allocID, "alloc", "pid"))
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			pid = n
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if pid == 0 {
		t.Fatalf("allocation %s never wrote its pid", allocID)
	}
	return pid
}

func processAlive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !strings.Contains(string(stat), ") Z ")
}

// step is one action of a timeline (or none) and the states it must go
// through, in order, consecutive as rendered after each event-stream frame;
// no states means that no allocation changes for twice lost_after.
type step struct {
	name string
	do   func(t *testing.T, srv *nomadtest.Server, tl *timeline)
	want []string
}

func register(node, gen string, withDisconnect bool) func(*testing.T, *nomadtest.Server, *timeline) {
	return func(t *testing.T, srv *nomadtest.Server, _ *timeline) {
		if _, _, err := srv.Client().Jobs().Register(pinnedJob(node, gen, withDisconnect), nil); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAgentDeathTimeline(t *testing.T) {
	t.Parallel()
	killAgent := func(t *testing.T, srv *nomadtest.Server, _ *timeline) { srv.KillAgent("n1") }
	restartAgent := func(t *testing.T, srv *nomadtest.Server, _ *timeline) { srv.RestartAgent("n1") }
	placed := []string{"n1=ready a0=pending/run@n1", "n1=ready a0=running/run@n1"}
	cases := []struct {
		name  string
		steps []step
		// survivor is the allocation whose first process must still run at
		// the end (-1: none), killed the one whose process must be gone.
		survivor, killed int
		killedWhy        string
	}{{
		// FACTS.md §A: nobody acts. The node turns disconnected before its
		// allocation turns unknown (same instant on v2.0.5, node first in
		// index order); lost after lost_after; the node down at the next
		// heartbeat check; on return the lost allocation reports running/stop
		// before its task is killed, and its blocked replacement starts on
		// the returning node.
		name: "A nobody acts",
		steps: []step{
			{"register", register("n1", "1", true), placed},
			{"kill agent", killAgent, []string{
				"n1=disconnected a0=running/run@n1", "n1=disconnected a0=unknown/run@n1",
				"n1=disconnected a0=lost/stop@n1", "n1=down a0=lost/stop@n1",
			}},
			{"restart agent", restartAgent, []string{
				"n1=ready a0=lost/stop@n1", "n1=ready a0=lost/stop@n1 a1=pending/run@n1",
				"n1=ready a0=running/stop@n1 a1=pending/run@n1", "n1=ready a0=running/stop@n1 a1=running/run@n1",
				"n1=ready a0=complete/stop@n1 a1=running/run@n1",
			}},
		},
		survivor: 1, killed: 0, killedWhy: "alloc is lost since its node is down",
	}, {
		// FACTS.md §B: a new version pinned elsewhere places at once; the
		// old allocation is desired to stop and stays unknown while its
		// node is away, then completes once the node is back.
		name: "B update while unknown",
		steps: []step{
			{"register", register("n1", "1", true), placed},
			{"kill agent", killAgent, []string{"n1=disconnected a0=running/run@n1", "n1=disconnected a0=unknown/run@n1"}},
			{"register v1 on n2", register("n2", "2", true), []string{
				"n1=disconnected a0=unknown/stop@n1", "n1=disconnected a0=unknown/stop@n1 a1=pending/run@n2",
				"n1=disconnected a0=unknown/stop@n1 a1=running/run@n2",
			}},
			{"heartbeat check", nil, []string{"n1=down a0=unknown/stop@n1 a1=running/run@n2"}},
			{"past lost_after", nil, nil},
			{"restart agent", restartAgent, []string{
				"n1=ready a0=unknown/stop@n1 a1=running/run@n2", "n1=ready a0=running/stop@n1 a1=running/run@n2",
				"n1=ready a0=complete/stop@n1 a1=running/run@n2",
			}},
		},
		survivor: 1, killed: 0, killedWhy: "alloc is being updated due to job update",
	}, {
		// Observed on v2.0.5: back before lost_after, an unknown
		// allocation under keep_original resumes as running with its
		// original process; the node passes through initializing.
		name: "keep_original",
		steps: []step{
			{"register", register("n1", "1", true), placed},
			{"kill agent", killAgent, []string{"n1=disconnected a0=running/run@n1", "n1=disconnected a0=unknown/run@n1"}},
			{"restart agent", restartAgent, []string{
				"n1=initializing a0=unknown/run@n1", "n1=initializing a0=running/run@n1", "n1=ready a0=running/run@n1",
			}},
		},
		survivor: 0, killed: -1,
	}, {
		// Observed on v2.0.5: without a disconnect block the allocation is
		// lost at the first missed heartbeat and the node goes straight
		// down; the replacement waits for the node.
		name: "no disconnect block",
		steps: []step{
			{"register", register("n1", "1", false), placed},
			{"kill agent", killAgent, []string{"n1=down a0=running/run@n1", "n1=down a0=lost/stop@n1"}},
			{"restart agent", restartAgent, []string{
				"n1=ready a0=lost/stop@n1", "n1=ready a0=lost/stop@n1 a1=pending/run@n1",
				"n1=ready a0=running/stop@n1 a1=pending/run@n1", "n1=ready a0=running/stop@n1 a1=running/run@n1",
				"n1=ready a0=complete/stop@n1 a1=running/run@n1",
			}},
		},
		survivor: 1, killed: 0, killedWhy: "alloc is lost since its node is down",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, dir := timelineServer(t)
			tl := followTimeline(t, srv)
			firstPid := map[int]int{}
			for _, st := range tc.steps {
				if st.do != nil {
					st.do(t, srv, tl)
				}
				if st.want == nil {
					tl.quiet(2 * lostAfter)
					continue
				}
				if got := tl.await(st.want[len(st.want)-1]); !slices.Equal(got, st.want) {
					t.Fatalf("%s:\n got %q\nwant %q", st.name, got, st.want)
				}
				for i := range tl.ids {
					if _, ok := firstPid[i]; !ok && tl.alloc(i).ClientStatus == "running" {
						firstPid[i] = taskPid(t, dir, tl.ids[i])
					}
				}
			}
			if tc.survivor >= 0 && !processAlive(firstPid[tc.survivor]) {
				t.Errorf("a%d's process %d should still run", tc.survivor, firstPid[tc.survivor])
			}
			if tc.killed >= 0 {
				if processAlive(firstPid[tc.killed]) {
					t.Errorf("a%d's process %d should have been killed", tc.killed, firstPid[tc.killed])
				}
				if why := tl.alloc(tc.killed).DesiredDescription; why != tc.killedWhy {
					t.Errorf("a%d desired description %q, want %q", tc.killed, why, tc.killedWhy)
				}
			}
		})
	}
}

// withUnknownAlloc runs the job on n1 and kills n1's agent: the allocation
// is unknown/run on a disconnected node.
func withUnknownAlloc(t *testing.T) (*nomadtest.Server, *timeline) {
	t.Helper()
	srv, _ := timelineServer(t)
	tl := followTimeline(t, srv)
	register("n1", "1", true)(t, srv, tl)
	tl.await("n1=ready a0=running/run@n1")
	srv.KillAgent("n1")
	tl.await("n1=disconnected a0=unknown/run@n1")
	return srv, tl
}

func awaitEval(t *testing.T, c *api.Client, id string) *api.Evaluation {
	t.Helper()
	var index uint64
	for {
		ev, qm, err := c.Evaluations().Info(id, &api.QueryOptions{WaitIndex: index, WaitTime: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if ev.Status != "pending" {
			return ev
		}
		index = qm.LastIndex
	}
}

// FACTS.md §C: a version pinned to a node that is not ready completes its
// evaluation with Nomad's placement metrics and a blocked evaluation; the
// running allocation of the previous version is left unknown/run.
func TestPinnedToDisconnectedNode(t *testing.T) {
	t.Parallel()
	srv, tl := withUnknownAlloc(t)
	c := srv.Client()
	resp, _, err := c.Jobs().Register(pinnedJob("n1", "2", true), nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := awaitEval(t, c, resp.EvalID)
	m := ev.FailedTGAllocs["transcoder"]
	if ev.Status != "complete" || m == nil || ev.BlockedEval == "" {
		t.Fatalf("evaluation %s, failed %v, blocked %q", ev.Status, ev.FailedTGAllocs, ev.BlockedEval)
	}
	got := api.AllocationMetric{
		NodePool: m.NodePool, NodesInPool: m.NodesInPool, NodesAvailable: m.NodesAvailable,
		NodesEvaluated: m.NodesEvaluated, NodesFiltered: m.NodesFiltered, ConstraintFiltered: m.ConstraintFiltered,
		NodesExhausted: m.NodesExhausted,
	}
	want := api.AllocationMetric{
		NodePool: "workers", NodesInPool: 1, NodesAvailable: map[string]int{"dc1": 1},
		NodesEvaluated: 1, NodesFiltered: 1, ConstraintFiltered: map[string]int{"${node.unique.id} = n1": 1},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("metric:\n got %+v\nwant %+v", got, want)
	}
	if blocked := awaitEval(t, c, ev.BlockedEval); blocked.Status != "blocked" || blocked.TriggeredBy != "queued-allocs" {
		t.Errorf("blocked evaluation %s triggered by %s", blocked.Status, blocked.TriggeredBy)
	}
	a, _, err := c.Allocations().Info(tl.ids[0], nil)
	if err != nil || a.ClientStatus != "unknown" || a.DesiredStatus != "run" {
		t.Errorf("previous version's allocation %v/%v, err %v; want unknown/run", a.ClientStatus, a.DesiredStatus, err)
	}
	if job, _, err := c.Jobs().Info("ezlive-test1", nil); err != nil || *job.Status != "running" {
		t.Errorf("job status %v, err %v; want running", *job.Status, err)
	}
}

// FACTS.md §D: deregistering without purge returns without waiting for the
// unknown allocation, which turns unknown/stop; the job is pending
// (stopped) while the disconnect timeout is pending, then dead, with its
// allocation history, until purged. The lost_after timeout finds nothing
// to do: a stopped allocation is never lost.
func TestDeregisterWithUnknownAlloc(t *testing.T) {
	t.Parallel()
	srv, tl := withUnknownAlloc(t)
	c := srv.Client()
	evalID, _, err := c.Jobs().Deregister("ezlive-test1", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	tl.await("n1=disconnected a0=unknown/stop@n1")
	if ev := awaitEval(t, c, evalID); ev.Status != "complete" || ev.Type != "service" {
		t.Errorf("deregister evaluation %s of type %s", ev.Status, ev.Type)
	}
	job, _, err := c.Jobs().Info("ezlive-test1", nil)
	if err != nil || !*job.Stop || *job.Status != "pending" || *job.Version != 1 {
		t.Fatalf("stopped job: %v, err %v; want pending (stopped), version 1", job, err)
	}
	tl.await("n1=down a0=unknown/stop@n1")
	tl.quiet(lostAfter)
	job, _, err = c.Jobs().Info("ezlive-test1", nil)
	if err != nil || *job.Status != "dead" {
		t.Fatalf("after lost_after: job %v, err %v; want dead", job, err)
	}
	allocs, _, err := c.Jobs().Allocations("ezlive-test1", true, nil)
	if err != nil || len(allocs) != 1 || allocs[0].ClientStatus != "unknown" || allocs[0].DesiredStatus != "stop" {
		t.Fatalf("allocation history %v, err %v", allocs, err)
	}
	if _, _, err := c.Jobs().Deregister("ezlive-test1", true, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Jobs().Info("ezlive-test1", nil); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("after purge: %v, want 404", err)
	}
}

// A machine that dies takes its tasks with it. Its agent, back before
// lost_after, cannot reattach to them and runs the task again, in the same
// allocation (task_runner.go, Restore).
func TestKillMachineRerunsTaskOnReturn(t *testing.T) {
	t.Parallel()
	srv, dir := timelineServer(t)
	tl := followTimeline(t, srv)
	register("n1", "1", true)(t, srv, tl)
	tl.await("n1=ready a0=running/run@n1")
	first := taskPid(t, dir, tl.ids[0])
	os.Remove(filepath.Join(dir, tl.ids[0], "alloc", "pid"))
	srv.KillMachine("n1")
	tl.await("n1=disconnected a0=unknown/run@n1")
	if processAlive(first) {
		t.Fatalf("process %d survived its machine", first)
	}
	srv.RestartAgent("n1")
	tl.await("n1=ready a0=running/run@n1")
	if again := taskPid(t, dir, tl.ids[0]); again == first || !processAlive(again) {
		t.Errorf("task after return: pid %d (first %d)", again, first)
	}
	a, _, err := srv.Client().Allocations().Info(tl.ids[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, e := range a.TaskStates["transcoder"].Events {
		events = append(events, e.Type)
	}
	want := []string{"Received", "Started", "Failed Restoring Task", "Started"}
	if !slices.Equal(events, want) || a.ClientStatus != "running" || len(tl.ids) != 1 {
		t.Errorf("%s with task events %q and %d allocations; want running with %q, alone", a.ClientStatus, events, len(tl.ids), want)
	}
}

// Observed on v2.0.5: lost keeps the client's last description; the reason
// is the desired description.
func TestLostKeepsClientDescription(t *testing.T) {
	t.Parallel()
	srv, _ := timelineServer(t)
	c := srv.Client()
	for _, tc := range []struct {
		node           string
		withDisconnect bool
	}{{"n1", true}, {"n2", false}} {
		job := pinnedJob(tc.node, "1", tc.withDisconnect)
		job.ID, job.Name = new("job-"+tc.node), new("job-"+tc.node)
		if _, _, err := c.Jobs().Register(job, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"n1", "n2"} {
		waitStatus(t, c, "job-"+id, "running")
		srv.KillAgent(id)
	}
	for _, tc := range []struct{ job, desc string }{
		{"job-n1", "alloc is unknown since its node is disconnected"}, {"job-n2", "Tasks are running"},
	} {
		a := waitStatus(t, c, tc.job, "lost")
		if a.ClientDescription != tc.desc || a.DesiredDescription != "alloc is lost since its node is down" {
			t.Errorf("%s lost: client %q, desired %q; want client %q", tc.job, a.ClientDescription, a.DesiredDescription, tc.desc)
		}
	}
}

// waitStatus follows the job's first allocation until it has the status.
func waitStatus(t *testing.T, c *api.Client, jobID, status string) *api.AllocationListStub {
	t.Helper()
	var index uint64
	for {
		allocs, qm, err := c.Jobs().Allocations(jobID, true, &api.QueryOptions{WaitIndex: index, WaitTime: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if len(allocs) > 0 && allocs[0].ClientStatus == status {
			return allocs[0]
		}
		index = qm.LastIndex
	}
}
