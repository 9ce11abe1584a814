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
	// RedisAddr and OriginURL, when set, are passed to the transcoder as
	// -redis and -origin. Left empty, the worker node's environment decides
	// (EZLIVE_REDIS_ADDR, EZLIVE_ORIGIN_URL, EZLIVE_REDIS_PASSWORD and
	// EZLIVE_REDIS_TLS: raw_exec tasks inherit the client agent's
	// environment). Secrets are never passed here: anyone who may read the
	// job sees its arguments.
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
	// StopTimeout bounds the wait in Stop for allocations on reachable
	// nodes to finish (KillTimeout + 5s): past it the stop goes on, fenced.
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
	cfg.StopTimeout = cmp.Or(cfg.StopTimeout, cfg.KillTimeout+5*time.Second)
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
// and class, with the CPU (cores) and memory (MiB) they offer to tasks. With
// none, it returns a *scheduler.NoNodesError naming the nodes it left out.
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
		if d.unusable(n) != "" {
			continue
		}
		cores, mhz, mem := capacity(n.NodeResources, n.ReservedResources)
		d.mhzPerCore[n.ID] = mhz
		out = append(out, scheduler.Node{
			ID: n.ID, Name: n.Name, Address: nodeAddress(n), CPU: cores, Memory: mem,
		})
	}
	if len(out) == 0 {
		return nil, &scheduler.NoNodesError{Reason: d.noNodesReason(stubs)}
	}
	return out, nil
}

// unusable says why a node takes no transcoders ("" when it does).
func (d *Driver) unusable(n *api.NodeListStub) string {
	switch {
	case d.cfg.NodePool != "" && n.NodePool != d.cfg.NodePool:
		return fmt.Sprintf("in node pool %q", n.NodePool)
	case d.cfg.NodeClass != "" && n.NodeClass != d.cfg.NodeClass:
		return fmt.Sprintf("of node class %q", n.NodeClass)
	case n.Status != api.NodeStatusReady:
		return n.Status
	case n.SchedulingEligibility != api.NodeSchedulingEligible:
		return "ineligible"
	case n.Drain:
		return "draining"
	}
	return ""
}

// noNodesReason names the filter and every node it left out, so that an
// operator sees at once why nothing is placed (a dev agent is in node pool
// "default", not "ezlive-workers").
func (d *Driver) noNodesReason(stubs []*api.NodeListStub) string {
	var want []string
	if d.cfg.NodePool != "" {
		want = append(want, fmt.Sprintf("node pool %q", d.cfg.NodePool))
	}
	if d.cfg.NodeClass != "" {
		want = append(want, fmt.Sprintf("node class %q", d.cfg.NodeClass))
	}
	msg := "no worker node is ready"
	if len(want) > 0 {
		msg += " in " + strings.Join(want, " and ")
	}
	if len(stubs) == 0 {
		return msg + ": Nomad lists no client node"
	}
	var seen []string
	for i, n := range stubs {
		if i == 8 {
			seen = append(seen, fmt.Sprintf("and %d more", len(stubs)-i))
			break
		}
		seen = append(seen, fmt.Sprintf("%s (%s)", n.Name, d.unusable(n)))
	}
	return msg + "; Nomad has " + strings.Join(seen, ", ")
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
//
// An earlier generation that is still registered is stopped first, without
// waiting: registered over it, the new version would be a destructive
// update, and Nomad's client starts the replacement only once the previous
// allocation is terminal or unknown (client/allocwatcher, remotePrevAlloc).
// On a node that died with its agent, that is until the node's heartbeat
// TTL expires: 10–20 s and more, which our own heartbeat beats.
func (d *Driver) Place(ctx context.Context, p scheduler.Placement) error {
	log := d.log.With("job_id", p.JobID, "node_id", p.NodeID, "generation", p.Generation)
	id := NomadJobID(p.JobID)
	reg, err := d.registration(ctx, id, p)
	if err != nil {
		return fmt.Errorf("place job %s: %w", p.JobID, err)
	}
	switch reg {
	case placed:
		log.Debug("placement already registered")
		return nil
	case superseded:
		if _, _, err := d.client.Jobs().Deregister(id, false, (&api.WriteOptions{}).WithContext(ctx)); err != nil && !isNotFound(err) {
			return fmt.Errorf("place job %s: stop the earlier generation: %w", p.JobID, err)
		}
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

// registration is what Nomad holds for a placement's job.
type registration int

const (
	absent     registration = iota // no such job, or stopped
	superseded                     // running an earlier (or another) generation
	placed                         // this generation, starting or running on the node
	unplaced                       // this generation, with no live allocation
)

// registration reads the job and its allocations to tell which.
func (d *Driver) registration(ctx context.Context, id string, p scheduler.Placement) (registration, error) {
	job, _, err := d.client.Jobs().Info(id, (&api.QueryOptions{}).WithContext(ctx))
	if isNotFound(err) {
		return absent, nil
	}
	if err != nil {
		return absent, fmt.Errorf("read %s: %w", id, err)
	}
	switch {
	case job.Stop != nil && *job.Stop:
		return absent, nil
	case job.Meta[MetaGeneration] != strconv.FormatInt(p.Generation, 10):
		return superseded, nil
	}
	allocs, _, err := d.client.Jobs().Allocations(id, false, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return absent, fmt.Errorf("read allocations of %s: %w", id, err)
	}
	for _, a := range allocs {
		live := a.ClientStatus == api.AllocClientStatusPending || a.ClientStatus == api.AllocClientStatusRunning
		if live && a.DesiredStatus == api.AllocDesiredStatusRun && a.NodeID == p.NodeID &&
			job.Version != nil && a.JobVersion == *job.Version {
			return placed, nil
		}
	}
	return unplaced, nil
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

// Stop deregisters the job without purging it, so that `nomad job status`
// keeps showing it, dead, with its allocation history, until the job is
// deleted (Forget). It then waits, at most StopTimeout, for the allocations
// that can still report to finish; an allocation whose node is down or
// disconnected (client status unknown) is never waited on: it is fenced
// already, and Nomad stops it when its node returns.
func (d *Driver) Stop(ctx context.Context, jobID string) error {
	id := NomadJobID(jobID)
	_, _, err := d.client.Jobs().Deregister(id, false, (&api.WriteOptions{}).WithContext(ctx))
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stop job %s: deregister: %w", jobID, err)
	}
	if left := d.awaitStopped(ctx, id); left != "" {
		d.log.Warn("allocation still stopping; left to Nomad", "job_id", jobID, "nomad_job", id, "alloc_id", left)
	}
	d.log.Info("job stopped", "job_id", jobID, "nomad_job", id)
	return nil
}

// Forget purges the job: a deleted live job leaves nothing in Nomad.
func (d *Driver) Forget(ctx context.Context, jobID string) error {
	id := NomadJobID(jobID)
	_, _, err := d.client.Jobs().Deregister(id, true, (&api.WriteOptions{}).WithContext(ctx))
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("purge job %s: %w", id, err)
	}
	return nil
}

// awaitStopped blocks until no allocation of the job is still stopping on
// a reachable node, or StopTimeout passes; it returns the allocation it
// gave up on ("" when none).
func (d *Driver) awaitStopped(ctx context.Context, id string) string {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.StopTimeout)
	defer cancel()
	var index uint64
	for {
		q := &api.QueryOptions{WaitIndex: index, WaitTime: 5 * time.Second}
		allocs, qm, err := d.client.Jobs().Allocations(id, true, q.WithContext(ctx))
		if err != nil {
			return "" // gone, or Nomad unreachable: nothing to wait on that we can see
		}
		waiting := d.stillStopping(ctx, allocs)
		if waiting == "" || ctx.Err() != nil {
			return waiting
		}
		index = max(index, qm.LastIndex)
	}
}

// stillStopping returns an allocation that is still running or starting on
// a ready node, or "".
func (d *Driver) stillStopping(ctx context.Context, allocs []*api.AllocationListStub) string {
	for _, a := range allocs {
		if terminal(a.ClientStatus) || a.ClientStatus == api.AllocClientStatusUnknown {
			continue
		}
		n, _, err := d.client.Nodes().Info(a.NodeID, (&api.QueryOptions{}).WithContext(ctx))
		if err == nil && n.Status == api.NodeStatusReady {
			return a.ID
		}
	}
	return ""
}

func terminal(clientStatus string) bool {
	switch clientStatus {
	case api.AllocClientStatusComplete, api.AllocClientStatusFailed, api.AllocClientStatusLost:
		return true
	}
	return false
}

// Placements lists the registered (not stopped) live jobs with the node of
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
		if !isLiveJob(j.ID, meta) {
			continue // the control plane's own jobs share the prefix: never ours to touch
		}
		r := scheduler.Running{JobID: meta[MetaJobID]}
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
