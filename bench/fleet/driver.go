package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ezlivestreaming/ezlive/scheduler"
	"github.com/ezlivestreaming/ezlive/store"
)

var _ scheduler.Driver = (*fleet)(nil)

// fleet is the simulated cluster: a scheduler.Driver over n nodes that
// places at once, starting a simulated transcoder (transcoder.go) for each
// placement. It records when each placement first heartbeats as
// streaming, which is what the bench waits for.
type fleet struct {
	st   *store.Store
	base context.Context // transcoders run until it ends or they are stopped

	heartbeats atomic.Int64 // heartbeats recorded, fenced ones too
	placed     atomic.Int64 // transcoders started

	mu       sync.Mutex
	nodes    []scheduler.Node
	down     map[string]bool
	running  map[string]*placement // by job
	watchers map[chan scheduler.Event]bool
	streamed map[string]streamed // by job: its newest generation that streamed
}

// placement is one running simulated transcoder.
type placement struct {
	run  scheduler.Running
	stop context.CancelFunc
}

// streamed is when a job's placement generation first reported streaming.
type streamed struct {
	gen int64
	at  time.Time
}

// newFleet returns n nodes of cpu cores each.
func newFleet(base context.Context, st *store.Store, n int, cpu float64) *fleet {
	f := &fleet{st: st, base: base, down: map[string]bool{}, running: map[string]*placement{},
		watchers: map[chan scheduler.Event]bool{}, streamed: map[string]streamed{}}
	for i := range n {
		f.nodes = append(f.nodes, scheduler.Node{ID: fmt.Sprintf("node%04d", i), Name: fmt.Sprintf("sim-%04d", i),
			Address: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), CPU: cpu, Memory: 1 << 20})
	}
	return f
}

func (f *fleet) Nodes(context.Context) ([]scheduler.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var up []scheduler.Node
	for _, n := range f.nodes {
		if !f.down[n.ID] {
			up = append(up, n)
		}
	}
	return up, nil
}

// Place starts a simulated transcoder at once; an earlier generation's is
// told to stop.
func (f *fleet) Place(_ context.Context, p scheduler.Placement) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down[p.NodeID] {
		return &scheduler.PlaceError{JobID: p.JobID, NodeID: p.NodeID, Reason: "node down"}
	}
	old, ok := f.running[p.JobID]
	if ok && old.run.Generation == p.Generation {
		return nil
	}
	if ok {
		old.stop()
	}
	ctx, stop := context.WithCancel(f.base)
	pl := &placement{run: scheduler.Running{JobID: p.JobID, NodeID: p.NodeID, Generation: p.Generation, Healthy: true}, stop: stop}
	f.running[p.JobID] = pl
	f.placed.Add(1)
	go f.transcode(ctx, pl)
	return nil
}

func (f *fleet) Stop(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if pl, ok := f.running[id]; ok {
		pl.stop()
		delete(f.running, id)
	}
	return nil
}

func (f *fleet) Forget(ctx context.Context, id string) error { return f.Stop(ctx, id) }

func (f *fleet) Placements(context.Context) ([]scheduler.Running, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]scheduler.Running, 0, len(f.running))
	for _, pl := range f.running {
		out = append(out, pl.run)
	}
	return out, nil
}

// Watch passes on node events (killNodes) to one scheduler; every
// scheduler watching sees every event, as with Nomad's event stream.
func (f *fleet) Watch(ctx context.Context, events chan<- scheduler.Event) error {
	ch := make(chan scheduler.Event, 4096)
	f.mu.Lock()
	f.watchers[ch] = true
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.watchers, ch)
		f.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-ch:
			select {
			case events <- ev:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// exited forgets a placement whose transcoder stopped on its own (fenced).
func (f *fleet) exited(pl *placement) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running[pl.run.JobID] == pl {
		pl.stop()
		delete(f.running, pl.run.JobID)
	}
}

// reportStreaming records a placement's first streaming heartbeat.
func (f *fleet) reportStreaming(job string, gen int64, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.streamed[job].gen < gen {
		f.streamed[job] = streamed{gen: gen, at: at}
	}
}

// streamingSince returns, of jobs (id → generation), how many have
// streamed with a later generation than the one given, and when each did.
func (f *fleet) streamingSince(jobs map[string]int64) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	var at []time.Time
	for id, gen := range jobs {
		if s := f.streamed[id]; s.gen > gen {
			at = append(at, s.at)
		}
	}
	return at
}

// killNodes takes the first k nodes down as a crash would: their
// transcoders stop at once (no more heartbeats), then every watching
// scheduler is told node_down. It returns the jobs that ran there, with
// their generations.
func (f *fleet) killNodes(k int) map[string]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	lost := map[string]int64{}
	for _, n := range f.nodes[:k] {
		f.down[n.ID] = true
	}
	for id, pl := range f.running {
		if f.down[pl.run.NodeID] {
			pl.stop()
			delete(f.running, id)
			lost[id] = pl.run.Generation
		}
	}
	for _, n := range f.nodes[:k] {
		ev := scheduler.Event{Kind: scheduler.EventNodeDown, NodeID: n.ID, Reason: "simulated crash"}
		for ch := range f.watchers {
			ch <- ev
		}
	}
	return lost
}
