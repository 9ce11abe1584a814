// Package schedulertest has an in-memory scheduler.Driver for tests: it
// records placements instead of starting processes, so a scheduler's
// decisions can be checked exactly. The real drivers have their own tests
// against real processes (localdriver, nomad with nomadtest).
package schedulertest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/ezlivestreaming/ezlive/scheduler"
)

var _ scheduler.Driver = (*Driver)(nil)

// Driver is an in-memory cluster of nodes.
type Driver struct {
	mu      sync.Mutex
	nodes   []scheduler.Node
	running map[string]scheduler.Running
	places  map[string]int // placements started, by "job/generation"
	stops   map[string]int // Stop calls, by job
	forgets map[string]int // Forget calls, by job
	refuse  string         // non-empty: every Place is refused with this reason
	stopErr error          // non-nil: every Stop fails with it
}

// NewDriver returns a cluster of the given nodes.
func NewDriver(nodes ...scheduler.Node) *Driver {
	return &Driver{nodes: nodes, running: map[string]scheduler.Running{}, places: map[string]int{}, stops: map[string]int{}, forgets: map[string]int{}}
}

// AddNode adds a node, as when capacity is added to a cluster.
func (d *Driver) AddNode(n scheduler.Node) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nodes = append(d.nodes, n)
}

// Refuse makes every later Place fail with reason, as a cluster that filters
// out the node would.
func (d *Driver) Refuse(reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refuse = reason
}

// Placed returns how many times job's generation gen was started.
func (d *Driver) Placed(job string, gen int64) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.places[fmt.Sprintf("%s/%d", job, gen)]
}

// Starts returns how many placements of job were started, over every
// generation.
func (d *Driver) Starts(job string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for key, c := range d.places {
		if id, _, _ := strings.Cut(key, "/"); id == job {
			n += c
		}
	}
	return n
}

// Placement returns what runs for a job.
func (d *Driver) Placement(id string) (scheduler.Running, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, ok := d.running[id]
	return r, ok
}

func (d *Driver) Nodes(context.Context) ([]scheduler.Node, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]scheduler.Node(nil), d.nodes...), nil
}

func (d *Driver) Place(_ context.Context, p scheduler.Placement) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.refuse != "" {
		return &scheduler.PlaceError{JobID: p.JobID, NodeID: p.NodeID, Reason: d.refuse}
	}
	if r, ok := d.running[p.JobID]; ok && r.Generation == p.Generation {
		return nil
	}
	d.places[fmt.Sprintf("%s/%d", p.JobID, p.Generation)]++
	d.running[p.JobID] = scheduler.Running{JobID: p.JobID, NodeID: p.NodeID, Generation: p.Generation, Healthy: true}
	return nil
}

// Stops returns how many times Stop was called for job.
func (d *Driver) Stops(job string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stops[job]
}

// RemoveNode takes a node out of the cluster, as when it goes down.
func (d *Driver) RemoveNode(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nodes = slices.DeleteFunc(d.nodes, func(n scheduler.Node) bool { return n.ID == id })
}

// FailStops makes every later Stop fail with err (nil: succeed again), as
// an unreachable cluster would.
func (d *Driver) FailStops(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopErr = err
}

func (d *Driver) Stop(_ context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stops[id]++
	if d.stopErr != nil {
		return d.stopErr
	}
	delete(d.running, id)
	return nil
}

// Forget counts the call: Stop already forgot the job.
func (d *Driver) Forget(_ context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.forgets[id]++
	return nil
}

// Forgets returns how many times Forget was called for job.
func (d *Driver) Forgets(job string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.forgets[job]
}

func (d *Driver) Placements(context.Context) ([]scheduler.Running, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]scheduler.Running, 0, len(d.running))
	for _, r := range d.running {
		out = append(out, r)
	}
	return out, nil
}

// Watch reports nothing: tests drive failures through the scheduler.
func (d *Driver) Watch(ctx context.Context, _ chan<- scheduler.Event) error {
	<-ctx.Done()
	return nil
}
