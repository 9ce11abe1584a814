// Package nomad carries out the scheduler's placements on a Nomad cluster: it
// implements scheduler.Driver with github.com/hashicorp/nomad/api, owning the
// shape of the Nomad job ezlive-<job id>. It decides nothing and stores
// nothing: placement choices and Redis belong to the scheduler.
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

var _ scheduler.Driver = (*Driver)(nil)

// Config configures the driver. Zero values get the defaults noted.
type Config struct {
	// Client talks to Nomad; nil means api.NewClient(api.DefaultConfig()),
	// which reads NOMAD_ADDR, NOMAD_TOKEN, NOMAD_NAMESPACE, NOMAD_REGION and
	// the NOMAD_CACERT/NOMAD_CLIENT_CERT/... TLS variables.
	Client *api.Client
	// NodePool and NodeClass select the worker nodes (empty: any).
	NodePool  string
	NodeClass string
	// Datacenters the jobs may run in (empty: the cluster's default, "*").
	Datacenters []string
	// TaskDriver runs the transcoder: raw_exec by default, or exec.
	TaskDriver string
	// Command is the path of the ezlive binary on the nodes ("ezlive").
	Command string
	// RedisAddr and OriginURL are passed to the transcoder.
	RedisAddr string
	OriginURL string
	// ExtraArgs are appended to the transcoder's arguments.
	ExtraArgs []string
	Logger    *slog.Logger

	// Restart policy for in-place restarts: RestartAttempts (3) within
	// RestartInterval (5m), RestartDelay (2s) apart, then the allocation fails.
	RestartAttempts int
	RestartInterval time.Duration
	RestartDelay    time.Duration
	// LostAfter is how long a node may be unreachable before its allocation
	// is lost (30s); meanwhile Nomad neither replaces nor stops it.
	LostAfter time.Duration
	// KillTimeout is the grace between SIGTERM and SIGKILL (10s).
	KillTimeout time.Duration
	// EvalTimeout bounds the wait for an evaluation in Place (30s);
	// StopTimeout bounds the wait for the allocation to finish in Stop (2m).
	EvalTimeout time.Duration
	StopTimeout time.Duration
}

// Driver places transcoders as Nomad batch jobs pinned to a node.
type Driver struct {
	cfg    Config
	client *api.Client
	log    *slog.Logger

	mu         sync.Mutex
	mhzPerCore map[string]float64 // node ID → MHz of one core, from Nodes
}

// New checks cfg, fills its defaults and returns a driver.
func New(cfg Config) (*Driver, error) {
	if cfg.Client == nil {
		c, err := api.NewClient(api.DefaultConfig())
		if err != nil {
			return nil, fmt.Errorf("nomad client: %w", err)
		}
		cfg.Client = c
	}
	cfg.TaskDriver = cmp.Or(cfg.TaskDriver, "raw_exec")
	cfg.Command = cmp.Or(cfg.Command, "ezlive")
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	cfg.RestartAttempts = cmp.Or(cfg.RestartAttempts, 3)
	cfg.RestartInterval = cmp.Or(cfg.RestartInterval, 5*time.Minute)
	cfg.RestartDelay = cmp.Or(cfg.RestartDelay, 2*time.Second)
	cfg.LostAfter = cmp.Or(cfg.LostAfter, 30*time.Second)
	cfg.KillTimeout = cmp.Or(cfg.KillTimeout, 10*time.Second)
	cfg.EvalTimeout = cmp.Or(cfg.EvalTimeout, 30*time.Second)
	cfg.StopTimeout = cmp.Or(cfg.StopTimeout, 2*time.Minute)
	if cfg.TaskDriver != "raw_exec" && cfg.TaskDriver != "exec" {
		return nil, fmt.Errorf("nomad driver: task driver %q: want raw_exec or exec", cfg.TaskDriver)
	}
	return &Driver{
		cfg:        cfg,
		client:     cfg.Client,
		log:        cfg.Logger.With("driver", "nomad"),
		mhzPerCore: map[string]float64{},
	}, nil
}

// Nodes lists the ready, eligible, not draining nodes of the configured pool
// and class, with the CPU (cores) and memory (MiB) they offer to tasks.
func (d *Driver) Nodes(ctx context.Context) ([]scheduler.Node, error) {
	q := &api.QueryOptions{Params: map[string]string{"resources": "true"}}
	stubs, _, err := d.client.Nodes().List(q.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("list nomad nodes: %w", err)
	}
	var out []scheduler.Node
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, n := range stubs {
		if !d.usable(n) {
			continue
		}
		cores, mhz, mem := capacity(n.NodeResources, n.ReservedResources)
		d.mhzPerCore[n.ID] = mhz
		out = append(out, scheduler.Node{
			ID: n.ID, Name: n.Name, Address: nodeAddress(n), CPU: cores, Memory: mem,
		})
	}
	return out, nil
}

func (d *Driver) usable(n *api.NodeListStub) bool {
	return n.Status == api.NodeStatusReady &&
		n.SchedulingEligibility == api.NodeSchedulingEligible &&
		!n.Drain &&
		(d.cfg.NodePool == "" || n.NodePool == d.cfg.NodePool) &&
		(d.cfg.NodeClass == "" || n.NodeClass == d.cfg.NodeClass)
}

// defaultMHzPerCore converts cores to Nomad's MHz when a node does not say
// how many cores its CPU shares stand for.
const defaultMHzPerCore = 1000

// capacity is what a node offers after its reservations: cores, MHz per
// core (to express a placement's cores in Nomad's MHz) and MiB.
func capacity(res *api.NodeResources, rsv *api.NodeReservedResources) (cores, mhzPerCore float64, memMB int) {
	if res == nil {
		return 0, defaultMHzPerCore, 0
	}
	shares, mem := float64(res.Cpu.CpuShares), res.Memory.MemoryMB
	if rsv != nil {
		shares -= float64(rsv.Cpu.CpuShares)
		mem -= int64(rsv.Memory.MemoryMB)
	}
	mhzPerCore = defaultMHzPerCore
	if res.Cpu.TotalCpuCores > 0 && res.Cpu.CpuShares > 0 {
		mhzPerCore = float64(res.Cpu.CpuShares) / float64(res.Cpu.TotalCpuCores)
	}
	return max(shares, 0) / mhzPerCore, mhzPerCore, int(max(mem, 0))
}

// nodeAddress is the host publishers reach: the node's fingerprinted IP,
// else the host of its HTTP address.
func nodeAddress(n *api.NodeListStub) string {
	if n.Address != "" {
		return n.Address
	}
	if ip := n.Attributes["unique.network.ip-address"]; ip != "" {
		return ip
	}
	return ""
}

// Place registers the job pinned to p.NodeID and waits for Nomad's
// evaluation: registration succeeding is not placement. A placement Nomad
// refuses is withdrawn (so a blocked evaluation cannot start it later behind
// the scheduler's back) and returned as a *scheduler.PlaceError.
func (d *Driver) Place(ctx context.Context, p scheduler.Placement) error {
	log := d.log.With("job_id", p.JobID, "node_id", p.NodeID, "generation", p.Generation)
	id := NomadJobID(p.JobID)
	placed, err := d.alreadyPlaced(ctx, id, p)
	if err != nil {
		return fmt.Errorf("place job %s: %w", p.JobID, err)
	}
	if placed {
		log.Debug("placement already registered")
		return nil
	}
	job := d.jobFor(p, d.coreMHz(ctx, p.NodeID))
	resp, _, err := d.client.Jobs().Register(job, (&api.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return fmt.Errorf("place job %s: register %s: %w", p.JobID, id, err)
	}
	ev, err := d.awaitEval(ctx, resp.EvalID)
	if err != nil {
		return fmt.Errorf("place job %s: evaluation %s: %w", p.JobID, resp.EvalID, err)
	}
	if reason := evalFailure(ev); reason != "" {
		log.Warn("nomad cannot place job", "reason", reason, "eval_id", ev.ID)
		d.withdraw(ctx, id)
		return &scheduler.PlaceError{JobID: p.JobID, NodeID: p.NodeID, Reason: reason}
	}
	log.Info("job placed", "nomad_job", id, "eval_id", ev.ID)
	return nil
}

// alreadyPlaced reports whether this (job, generation) is registered on the
// node with an allocation that is starting or running.
func (d *Driver) alreadyPlaced(ctx context.Context, id string, p scheduler.Placement) (bool, error) {
	job, _, err := d.client.Jobs().Info(id, (&api.QueryOptions{}).WithContext(ctx))
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", id, err)
	}
	if job.Stop != nil && *job.Stop || job.Meta[MetaGeneration] != strconv.FormatInt(p.Generation, 10) {
		return false, nil
	}
	allocs, _, err := d.client.Jobs().Allocations(id, false, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return false, fmt.Errorf("read allocations of %s: %w", id, err)
	}
	for _, a := range allocs {
		live := a.ClientStatus == api.AllocClientStatusPending || a.ClientStatus == api.AllocClientStatusRunning
		if live && a.DesiredStatus == api.AllocDesiredStatusRun && a.NodeID == p.NodeID &&
			job.Version != nil && a.JobVersion == *job.Version {
			return true, nil
		}
	}
	return false, nil
}

// coreMHz is the MHz of one core on the node, learned by Nodes or asked.
func (d *Driver) coreMHz(ctx context.Context, nodeID string) float64 {
	d.mu.Lock()
	mhz, ok := d.mhzPerCore[nodeID]
	d.mu.Unlock()
	if ok {
		return mhz
	}
	n, _, err := d.client.Nodes().Info(nodeID, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return defaultMHzPerCore // Nomad's evaluation will say what is wrong with the node
	}
	_, mhz, _ = capacity(n.NodeResources, n.ReservedResources)
	return mhz
}

// awaitEval follows the evaluation with blocking queries until it is no
// longer pending.
func (d *Driver) awaitEval(ctx context.Context, evalID string) (*api.Evaluation, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.EvalTimeout)
	defer cancel()
	var index uint64
	for {
		q := &api.QueryOptions{WaitIndex: index, WaitTime: 10 * time.Second}
		ev, qm, err := d.client.Evaluations().Info(evalID, q.WithContext(ctx))
		if err != nil {
			return nil, err
		}
		if ev.Status != "pending" {
			return ev, nil
		}
		index = max(index, qm.LastIndex)
	}
}

// withdraw deregisters a job Nomad could not place; best effort, the
// reconcile loop removes what is left.
func (d *Driver) withdraw(ctx context.Context, id string) {
	if _, _, err := d.client.Jobs().Deregister(id, false, (&api.WriteOptions{}).WithContext(ctx)); err != nil && !isNotFound(err) {
		d.log.Warn("withdraw unplaced job", "nomad_job", id, "err", err)
	}
}

// Stop deregisters the job without purging, waits until its allocations have
// finished, then purges it: purging at once would hide the stop from
// `nomad job status` while the transcoder is still exiting.
func (d *Driver) Stop(ctx context.Context, jobID string) error {
	id := NomadJobID(jobID)
	_, _, err := d.client.Jobs().Deregister(id, false, (&api.WriteOptions{}).WithContext(ctx))
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stop job %s: deregister: %w", jobID, err)
	}
	if err := d.awaitFinished(ctx, id); err != nil {
		return fmt.Errorf("stop job %s: wait for allocations: %w", jobID, err)
	}
	if _, _, err := d.client.Jobs().Deregister(id, true, (&api.WriteOptions{}).WithContext(ctx)); err != nil && !isNotFound(err) {
		return fmt.Errorf("stop job %s: purge: %w", jobID, err)
	}
	d.log.Info("job stopped", "job_id", jobID, "nomad_job", id)
	return nil
}

// awaitFinished blocks until every allocation of the job is terminal.
func (d *Driver) awaitFinished(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.StopTimeout)
	defer cancel()
	var index uint64
	for {
		q := &api.QueryOptions{WaitIndex: index, WaitTime: 10 * time.Second}
		allocs, qm, err := d.client.Jobs().Allocations(id, true, q.WithContext(ctx))
		if err != nil {
			return err
		}
		finished := true
		for _, a := range allocs {
			finished = finished && terminal(a.ClientStatus)
		}
		if finished {
			return nil
		}
		index = max(index, qm.LastIndex)
	}
}

func terminal(clientStatus string) bool {
	switch clientStatus {
	case api.AllocClientStatusComplete, api.AllocClientStatusFailed, api.AllocClientStatusLost:
		return true
	}
	return false
}

// Placements lists the registered (not stopped) ezlive jobs with the node of
// their latest allocation and whether it runs.
func (d *Driver) Placements(ctx context.Context) ([]scheduler.Running, error) {
	opts := &api.JobListOptions{Fields: &api.JobListFields{Meta: true}}
	jobs, _, err := d.client.Jobs().ListOptions(opts, (&api.QueryOptions{Prefix: JobPrefix}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("list nomad jobs: %w", err)
	}
	q := &api.QueryOptions{Params: map[string]string{"task_states": "false"}}
	allocs, _, err := d.client.Allocations().List(q.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("list nomad allocations: %w", err)
	}
	latest := map[string]*api.AllocationListStub{}
	for _, a := range allocs {
		if cur := latest[a.JobID]; cur == nil || a.CreateIndex > cur.CreateIndex {
			latest[a.JobID] = a
		}
	}
	var out []scheduler.Running
	for _, j := range jobs {
		if j.Stop || !strings.HasPrefix(j.ID, JobPrefix) {
			continue
		}
		meta, err := d.jobMeta(ctx, j)
		if err != nil {
			return nil, err
		}
		r := scheduler.Running{JobID: ezliveJobID(j.ID, meta)}
		r.Generation, _ = strconv.ParseInt(meta[MetaGeneration], 10, 64)
		if a := latest[j.ID]; a != nil {
			r.NodeID = a.NodeID
			r.Healthy = a.ClientStatus == api.AllocClientStatusRunning && a.DesiredStatus == api.AllocDesiredStatusRun
		}
		out = append(out, r)
	}
	return out, nil
}

// jobMeta is the job's meta from the list, or read from the job when the
// agent is too old to list meta.
func (d *Driver) jobMeta(ctx context.Context, j *api.JobListStub) (map[string]string, error) {
	if j.Meta != nil {
		return j.Meta, nil
	}
	job, _, err := d.client.Jobs().Info(j.ID, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", j.ID, err)
	}
	return job.Meta, nil
}

func isNotFound(err error) bool {
	var ure api.UnexpectedResponseError
	return errors.As(err, &ure) && ure.StatusCode() == http.StatusNotFound
}
