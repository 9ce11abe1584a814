package nomadtest_test

import (
	"context"
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
