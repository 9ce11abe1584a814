package nomad

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/ezlivestreaming/ezlive/scheduler"
)

// Watch reports allocation and node changes until ctx ends, then returns
// nil. It follows Nomad's event stream (topics Allocation, Job, Node) and
// resumes from the last index it saw after a reconnect; on an agent without
// the event stream it falls back to blocking queries. Only changes after
// Watch starts are reported: the scheduler's reconcile loop reads the rest
// through Placements and Nodes.
func (d *Driver) Watch(ctx context.Context, events chan<- scheduler.Event) error {
	w := &watcher{
		d: d, out: events, log: d.log.With("component", "watch"),
		allocs: map[string]string{}, gens: map[string]int64{}, nodes: map[string]string{}, jobIDs: map[string]string{},
	}
	index, err := w.prime(ctx)
	if err != nil {
		return fmt.Errorf("watch nomad: %w", err)
	}
	backoff := newBackoff()
	for ctx.Err() == nil {
		delivered, err := w.stream(ctx, &index)
		if ctx.Err() != nil {
			break
		}
		if streamUnsupported(err) {
			w.log.Warn("event stream unavailable; using blocking queries", "err", err)
			w.poll(ctx)
			break
		}
		if delivered {
			backoff.reset()
		}
		w.log.Warn("event stream interrupted; resuming", "index", index, "err", err)
		backoff.wait(ctx)
	}
	return nil
}

// watcher turns Nomad state changes into scheduler events, once per change.
type watcher struct {
	d   *Driver
	out chan<- scheduler.Event
	log *slog.Logger

	mu     sync.Mutex
	allocs map[string]string // alloc ID → last client status reported
	gens   map[string]int64  // alloc ID → placement generation it runs
	nodes  map[string]string // node ID → last status reported
	jobIDs map[string]string // Nomad job ID → live job id, from job meta
}

// prime records the current state, so that only changes are reported, and
// returns the index the event stream starts from.
func (w *watcher) prime(ctx context.Context) (uint64, error) {
	nodes, nqm, err := w.d.client.Nodes().List((&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return 0, fmt.Errorf("list nodes: %w", err)
	}
	q := &api.QueryOptions{Params: map[string]string{"task_states": "false"}}
	allocs, aqm, err := w.d.client.Allocations().List(q.WithContext(ctx))
	if err != nil {
		return 0, fmt.Errorf("list allocations: %w", err)
	}
	for _, n := range nodes {
		w.nodes[n.ID] = n.Status
	}
	for _, a := range allocs {
		w.allocs[a.ID] = a.ClientStatus
	}
	return max(nqm.LastIndex, aqm.LastIndex) + 1, nil
}

var errStreamEnded = errors.New("event stream ended")

// stream follows the event stream from *index, advancing it past every frame
// handled; it returns when the stream breaks, and whether it delivered any.
func (w *watcher) stream(ctx context.Context, index *uint64) (bool, error) {
	topics := map[api.Topic][]string{
		api.TopicAllocation: {"*"}, api.TopicJob: {"*"}, api.TopicNode: {"*"},
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := w.d.client.EventStream().Stream(ctx, topics, *index, &api.QueryOptions{})
	if err != nil {
		return false, err
	}
	delivered := false
	for frame := range ch {
		if frame.Err != nil {
			return delivered, frame.Err
		}
		if frame.Index < *index {
			continue // already handled before a reconnect
		}
		for _, ev := range frame.Events {
			w.handle(ctx, ev)
		}
		*index = frame.Index + 1
		delivered = true
	}
	return delivered, errStreamEnded
}

func streamUnsupported(err error) bool {
	var ure api.UnexpectedResponseError
	if !errors.As(err, &ure) {
		return false
	}
	code := ure.StatusCode()
	return code == http.StatusNotFound || code == http.StatusNotImplemented || code == http.StatusForbidden
}

func (w *watcher) handle(ctx context.Context, ev api.Event) {
	switch ev.Topic {
	case api.TopicAllocation:
		a, err := ev.Allocation()
		if err != nil || a == nil {
			w.log.Warn("undecodable allocation event", "index", ev.Index, "err", err)
			return
		}
		w.alloc(ctx, allocChange{a.ID, a.JobID, a.NodeID, w.generation(ctx, a), a.ClientStatus, a.ClientDescription, a.DesiredDescription, a.TaskStates})
	case api.TopicNode:
		n, err := ev.Node()
		if err != nil || n == nil {
			w.log.Warn("undecodable node event", "index", ev.Index, "err", err)
			return
		}
		w.node(ctx, n.ID, n.NodePool, n.NodeClass, n.Status, n.StatusDescription)
	case api.TopicJob:
		if j, err := ev.Job(); err == nil && j != nil {
			w.learnJob(j)
		}
	}
}

func (w *watcher) learnJob(j *api.Job) {
	if j.ID == nil || !isLiveJob(*j.ID, j.Meta) {
		return
	}
	w.mu.Lock()
	w.jobIDs[*j.ID] = j.Meta[MetaJobID]
	w.mu.Unlock()
}

// generation is the placement generation an allocation runs, learned once
// per allocation: allocation events carry no job (Nomad strips it from
// them, nomad/state/events.go), so it is read from the allocation itself.
// It also learns the live job the allocation belongs to; 0 when the
// allocation is not a live job's or cannot be read.
func (w *watcher) generation(ctx context.Context, a *api.Allocation) int64 {
	if !strings.HasPrefix(a.JobID, JobPrefix) {
		return 0
	}
	w.mu.Lock()
	gen, known := w.gens[a.ID]
	w.mu.Unlock()
	if known {
		return gen
	}
	job := a.Job
	if job == nil {
		full, _, err := w.d.client.Allocations().Info(a.ID, (&api.QueryOptions{}).WithContext(ctx))
		if err != nil || full.Job == nil {
			return 0
		}
		job = full.Job
	}
	w.learnJob(job)
	gen, _ = strconv.ParseInt(job.Meta[MetaGeneration], 10, 64)
	w.mu.Lock()
	w.gens[a.ID] = gen
	w.mu.Unlock()
	return gen
}

// allocChange is an allocation's new client status, as an event or a list
// reports it.
type allocChange struct {
	id, nomadJob, nodeID string
	generation           int64
	status, desc         string
	desiredDesc          string
	tasks                map[string]*api.TaskState
}

// alloc reports a change of a live job's allocation's client status.
func (w *watcher) alloc(ctx context.Context, c allocChange) {
	w.mu.Lock()
	jobID, known := w.jobIDs[c.nomadJob]
	changed := known && w.allocs[c.id] != c.status
	if changed {
		w.allocs[c.id] = c.status
		w.pruneLocked()
	}
	w.mu.Unlock()
	if !changed {
		return
	}
	ev := scheduler.Event{JobID: jobID, NodeID: c.nodeID, Generation: c.generation}
	switch c.status {
	case api.AllocClientStatusRunning:
		ev.Kind = scheduler.EventRunning
	case api.AllocClientStatusFailed:
		ev.Kind, ev.Reason = scheduler.EventFailed, failureReason(c.desc, c.tasks)
	case api.AllocClientStatusLost:
		// A lost allocation keeps its client description; why it is lost
		// is in the desired description (observed on v2.0.5).
		ev.Kind, ev.Reason = scheduler.EventLost, cmp.Or(c.desiredDesc, c.desc)
	case api.AllocClientStatusUnknown:
		// Nomad: allocations on a disconnected client are marked unknown
		// (job specification, disconnect block), and while the node stays
		// away they may stay unknown indefinitely. The stream is off the
		// air either way, so the placement is dead to us now.
		ev.Kind, ev.Reason = scheduler.EventLost, "unknown: its node is unreachable"
	case api.AllocClientStatusComplete:
		ev.Kind, ev.Reason = scheduler.EventComplete, c.desc
	default:
		return // pending
	}
	w.send(ctx, ev)
}

// failureReason is the task's last exit and why it is not restarted.
func failureReason(desc string, tasks map[string]*api.TaskState) string {
	var parts []string
	for _, name := range sortedKeys(tasks) {
		var exit, final string
		for _, e := range tasks[name].Events {
			switch e.Type {
			case api.TaskTerminated, api.TaskDriverFailure:
				exit = e.DisplayMessage
			case api.TaskNotRestarting, api.TaskKilled:
				final = e.DisplayMessage
			}
		}
		if msg := strings.Trim(exit+"; "+final, "; "); msg != "" {
			parts = append(parts, name+": "+msg)
		}
	}
	if len(parts) == 0 {
		return desc
	}
	return strings.Join(parts, "; ")
}

// pruneLocked bounds the memory of reported statuses; terminal allocations
// change no more, so they go first.
func (w *watcher) pruneLocked() {
	if len(w.allocs) < 10000 {
		return
	}
	for id, status := range w.allocs {
		if terminal(status) {
			delete(w.allocs, id)
			delete(w.gens, id)
		}
	}
}

// node reports a worker node going down (or disconnected) or coming back.
func (w *watcher) node(ctx context.Context, id, pool, class, status, desc string) {
	if (w.d.cfg.NodePool != "" && pool != w.d.cfg.NodePool) || (w.d.cfg.NodeClass != "" && class != w.d.cfg.NodeClass) {
		return
	}
	w.mu.Lock()
	prev := w.nodes[id]
	w.nodes[id] = status
	w.mu.Unlock()
	if prev == status {
		return
	}
	ev := scheduler.Event{NodeID: id, Reason: desc}
	switch status {
	case api.NodeStatusReady:
		ev.Kind = scheduler.EventNodeUp
	case api.NodeStatusDown, api.NodeStatusDisconnected:
		ev.Kind = scheduler.EventNodeDown
		ev.Reason = strings.TrimSuffix(status+": "+desc, ": ")
	default:
		return
	}
	w.send(ctx, ev)
}

func (w *watcher) send(ctx context.Context, ev scheduler.Event) {
	w.log.Info("nomad event", "kind", ev.Kind, "job_id", ev.JobID, "node_id", ev.NodeID, "reason", ev.Reason)
	select {
	case w.out <- ev:
	case <-ctx.Done():
	}
}

// poll is the fallback without an event stream: blocking queries on the
// allocation and node lists, each change reported as the stream would.
func (w *watcher) poll(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() {
		w.follow(ctx, func(q *api.QueryOptions) (uint64, error) {
			q.Params = map[string]string{"task_states": "true"}
			allocs, qm, err := w.d.client.Allocations().List(q)
			if err != nil {
				return 0, err
			}
			for _, a := range allocs {
				gen := w.generation(ctx, &api.Allocation{ID: a.ID, JobID: a.JobID})
				w.alloc(ctx, allocChange{a.ID, a.JobID, a.NodeID, gen, a.ClientStatus, a.ClientDescription, a.DesiredDescription, a.TaskStates})
			}
			return qm.LastIndex, nil
		})
	})
	wg.Go(func() {
		w.follow(ctx, func(q *api.QueryOptions) (uint64, error) {
			nodes, qm, err := w.d.client.Nodes().List(q)
			if err != nil {
				return 0, err
			}
			for _, n := range nodes {
				w.node(ctx, n.ID, n.NodePool, n.NodeClass, n.Status, n.StatusDescription)
			}
			return qm.LastIndex, nil
		})
	})
	wg.Wait()
}

// follow repeats a blocking query until ctx ends, backing off after errors.
func (w *watcher) follow(ctx context.Context, query func(*api.QueryOptions) (uint64, error)) {
	var index uint64
	backoff := newBackoff()
	for ctx.Err() == nil {
		q := (&api.QueryOptions{WaitIndex: index, WaitTime: time.Minute}).WithContext(ctx)
		next, err := query(q)
		if err != nil {
			if ctx.Err() == nil {
				w.log.Warn("blocking query failed", "err", err)
			}
			backoff.wait(ctx)
			continue
		}
		backoff.reset()
		if next < index {
			next = 0 // the index went backwards (a restored cluster): start over
		}
		index = next
	}
}

// backoff doubles a wait from 100ms to 5s.
type backoff struct{ next time.Duration }

func newBackoff() *backoff { return &backoff{next: 100 * time.Millisecond} }

func (b *backoff) reset() { b.next = 100 * time.Millisecond }

func (b *backoff) wait(ctx context.Context) {
	t := time.NewTimer(b.next)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	b.next = min(2*b.next, 5*time.Second)
}
