package scheduler

import (
	"context"
	"errors"
	"fmt"
)

// Driver runs transcoders on nodes. The local driver runs them as child
// processes of this machine; the Nomad driver registers Nomad jobs pinned to
// the chosen client node. Placement decisions are the scheduler's; a driver
// only carries them out and reports what happens.
type Driver interface {
	// Nodes lists the nodes that can take new work now. When the driver
	// sees nodes but none is usable (all filtered out by pool or class, or
	// none ready), it returns a *NoNodesError that names them.
	Nodes(ctx context.Context) ([]Node, error)
	// Place starts the transcoder of p.JobID on p.NodeID. It is idempotent
	// for one (JobID, Generation): placing again what already runs is a no-op.
	// Whatever ran for an earlier generation is told to stop, and Place does
	// not wait for it: that placement is fenced already.
	// A placement the cluster refuses returns a *PlaceError with its reason.
	Place(ctx context.Context, p Placement) error
	// Stop tells the transcoder of a job to stop and waits, for a bounded
	// time, until it has exited, so that its last uploads land. It never
	// waits on a node that is down or disconnected. Stopping a job that has
	// nothing running is not an error.
	Stop(ctx context.Context, jobID string) error
	// Forget removes what the driver keeps of a deleted job (Nomad: the
	// stopped job and its allocation history). The job is stopped first.
	Forget(ctx context.Context, jobID string) error
	// Placements lists the jobs the driver runs now (for reconciliation).
	Placements(ctx context.Context) ([]Running, error)
	// Watch reports allocation and node events until ctx ends.
	Watch(ctx context.Context, events chan<- Event) error
}

// Node is a machine that runs transcoders.
type Node struct {
	ID      string  `json:"ID"`
	Name    string  `json:"Name"`
	Address string  `json:"Address"` // host that publishers reach
	CPU     float64 `json:"CPU"`     // capacity in cores available to transcoders
	Memory  int     `json:"Memory"`  // MiB
}

// Placement asks a driver to run one job's transcoder on one node.
type Placement struct {
	JobID      string
	NodeID     string
	Generation int64
	CPU        float64 // estimated cores, from jobspec.EstimateCost
	Memory     int     // MiB
	Summary    string  // ladder summary for operators (Nomad meta)
	StreamType string
}

// Running is a placement as the driver sees it.
type Running struct {
	JobID      string
	NodeID     string
	Generation int64
	Healthy    bool
}

// EventKind says what happened to a placement or a node.
type EventKind string

// Driver events.
const (
	EventRunning  EventKind = "running"  // the transcoder process started
	EventFailed   EventKind = "failed"   // it failed and will not be restarted in place
	EventLost     EventKind = "lost"     // its node stopped answering
	EventComplete EventKind = "complete" // it exited after a stop
	EventNodeDown EventKind = "node_down"
	EventNodeUp   EventKind = "node_up"
)

// Event is one report from a driver. JobID is empty for node events.
type Event struct {
	Kind       EventKind
	JobID      string
	NodeID     string
	Generation int64 // placement generation the event is about; 0 when unknown
	Reason     string
}

// PlaceError is a placement the cluster refused, with the cluster's reason.
type PlaceError struct {
	JobID  string
	NodeID string
	Reason string
}

func (e *PlaceError) Error() string {
	return fmt.Sprintf("place job %s on node %s: %s", e.JobID, e.NodeID, e.Reason)
}

// IsPlaceError reports whether err is a refused placement.
func IsPlaceError(err error) bool {
	var pe *PlaceError
	return errors.As(err, &pe)
}

// NoNodesError says why a driver has no node to offer, naming the nodes it
// left out; a job waits with Reason as its state reason.
type NoNodesError struct{ Reason string }

func (e *NoNodesError) Error() string { return e.Reason }
