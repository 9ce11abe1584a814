package nomadtest

import (
	"fmt"
	"net"
	"os"
	"path"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/nomad/api"
)

// process runs one evaluation to completion; s.mu is held. Failed
// allocations are not replaced (reschedule is off for the jobs this server
// is for); lost ones are, as Nomad replaces lost allocations whatever the
// reschedule policy (FACTS.md §A).
func (s *Server) process(ev *api.Evaluation) {
	js := s.jobs[ev.JobID]
	if ev.Status != "pending" && ev.Status != "blocked" {
		return
	}
	failed := map[string]*api.AllocationMetric{}
	if js != nil {
		s.reconcileTainted(js)
	}
	if js != nil && *js.job.Stop {
		for _, aid := range js.allocs {
			s.stopAlloc(s.allocs[aid], "alloc not needed due to job update")
		}
	}
	if js != nil && !*js.job.Stop {
		for _, tg := range js.job.TaskGroups {
			if m := s.reconcileGroup(ev, js, tg); m != nil {
				failed[*tg.Name] = m
			}
		}
	}
	ev.Status = "complete"
	if len(failed) > 0 {
		ev.FailedTGAllocs = failed
		if ev.TriggeredBy == "queued-allocs" {
			ev.Status = "blocked"
		} else {
			ev.BlockedEval = s.blockedEval(ev, js).ID
		}
	}
	ev.ModifyIndex = s.bump()
	ev.ModifyTime = time.Now().UnixNano()
	if ev.Status == "complete" && len(failed) == 0 && js != nil {
		// A successful evaluation cancels the job's blocked one
		// (state_store.go, nestedUpsertEval).
		s.cancelBlocked(js, fmt.Sprintf("evaluation %q successful", ev.ID))
	}
	if js != nil {
		s.setJobStatus(js)
	}
}

// reconcileTainted applies the reconciler's rules to the job's allocations
// on disconnected and down nodes (scheduler/reconciler/filters.go,
// classificationRules): an expired unknown allocation is lost; on a
// disconnected node a pending allocation or one without a disconnect window
// is lost and the others turn unknown; on a down node a running one with a
// disconnect window (replace = false) turns unknown and the rest is lost.
// Allocations desired to stop, or finished, are left as they are. Unknown
// allocations get a follow-up evaluation at their lost_after. s.mu is held.
func (s *Server) reconcileTainted(js *jobState) {
	now := time.Now()
	followups := map[time.Duration]*api.Evaluation{}
	for _, aid := range js.allocs {
		a := s.allocs[aid]
		if a.alloc.DesiredStatus != api.AllocDesiredStatusRun || a.terminal() {
			continue
		}
		status, window := s.nodes[a.alloc.NodeID].Status, a.lostAfter()
		client := a.alloc.ClientStatus
		switch {
		case a.expired(now):
			s.markLost(a)
		case status == api.NodeStatusDisconnected && client == api.AllocClientStatusUnknown:
			// already unknown, waiting for lost_after
		case status == api.NodeStatusDisconnected && (client == api.AllocClientStatusPending || window <= 0):
			s.markLost(a)
		case status == api.NodeStatusDisconnected,
			status == api.NodeStatusDown && window > 0 && client == api.AllocClientStatusRunning:
			if followups[window] == nil {
				followups[window] = s.delayedEval(js, "max-disconnect-timeout", now.Add(window))
			}
			s.markUnknown(a, now, followups[window].ID)
		case status == api.NodeStatusDown && window > 0 && client == api.AllocClientStatusUnknown:
			// unknown on a down node without replacement stays so until it expires
		case status == api.NodeStatusDown:
			s.markLost(a)
		}
	}
}

// markUnknown is the plan's AppendUnknownAlloc: the desired status stays.
func (s *Server) markUnknown(a *allocState, now time.Time, followup string) {
	a.unknownSince = now
	a.alloc.ClientStatus = api.AllocClientStatusUnknown
	a.alloc.ClientDescription = "alloc is unknown since its node is disconnected"
	a.alloc.FollowupEvalID = followup
	s.allocChanged(a, "PlanResult")
}

// markLost is the plan's AppendStoppedAlloc with client status lost: the
// client description stays what it was (observed on v2.0.5).
func (s *Server) markLost(a *allocState) {
	a.alloc.ClientStatus = api.AllocClientStatusLost
	a.alloc.DesiredStatus = api.AllocDesiredStatusStop
	a.alloc.DesiredDescription = "alloc is lost since its node is down"
	s.allocChanged(a, "PlanResult")
}

// reconcileGroup places what the group's count lacks. A newer job version
// replaces each allocation of an older one, and the old one is stopped only
// once its replacement is placed: when placement fails it keeps running
// (generic_sched.go, computePlacements). It returns the metric of a failed
// placement.
func (s *Server) reconcileGroup(ev *api.Evaluation, js *jobState, tg *api.TaskGroup) *api.AllocationMetric {
	have := 0
	var old []*allocState
	for _, aid := range js.allocs {
		a := s.allocs[aid]
		if a.alloc.TaskGroup != *tg.Name || a.alloc.DesiredStatus != api.AllocDesiredStatusRun {
			continue
		}
		switch {
		case *a.alloc.Job.Version == *js.job.Version:
			have++
		case !a.terminal():
			old = append(old, a)
		}
	}
	for i := have; i < *tg.Count; i++ {
		var prev *allocState
		if len(old) > 0 {
			prev, old = old[0], old[1:]
		}
		node, metric := s.selectNode(js.job, tg, prev)
		if node == nil {
			return metric
		}
		if prev != nil {
			s.stopAlloc(prev, "alloc is being updated due to job update")
		}
		s.placeAlloc(ev, js, tg, node, metric, i, prev)
	}
	for _, a := range old {
		s.stopAlloc(a, "alloc not needed due to job update")
	}
	return nil
}

func (s *Server) blockedEval(ev *api.Evaluation, js *jobState) *api.Evaluation {
	// Nomad keeps one blocked evaluation per job; the leader cancels the
	// older one (leader.go, reapDupBlockedEvaluations).
	s.cancelBlocked(js, fmt.Sprintf("existing blocked evaluation exists for job %q", ev.JobID))
	s.bump()
	b := &api.Evaluation{
		ID: uuid.NewString(), Priority: ev.Priority, Type: ev.Type, TriggeredBy: "queued-allocs",
		Namespace: ev.Namespace, JobID: ev.JobID, JobModifyIndex: ev.JobModifyIndex,
		Status: "blocked", StatusDescription: "created to place remaining allocations",
		PreviousEval: ev.ID, CreateIndex: s.index, ModifyIndex: s.index,
		CreateTime: time.Now().UnixNano(), ModifyTime: time.Now().UnixNano(),
	}
	s.evals[b.ID] = b
	js.evals = append(js.evals, b.ID)
	return b
}

// delayedEval creates a pending evaluation processed at waitUntil, as the
// reconciler's follow-up evaluations (reconcile_cluster.go,
// createTimeoutLaterEvals); s.mu is held.
func (s *Server) delayedEval(js *jobState, trigger string, waitUntil time.Time) *api.Evaluation {
	job := js.job
	s.bump()
	now := time.Now()
	ev := &api.Evaluation{
		ID: uuid.NewString(), Priority: *job.Priority, Type: *job.Type, TriggeredBy: trigger,
		Namespace: *job.Namespace, JobID: *job.ID, JobModifyIndex: *job.JobModifyIndex,
		Status: "pending", StatusDescription: "created for delayed disconnect timeout",
		WaitUntil: waitUntil, CreateIndex: s.index, ModifyIndex: s.index,
		CreateTime: now.UnixNano(), ModifyTime: now.UnixNano(),
	}
	s.evals[ev.ID] = ev
	js.evals = append(js.evals, ev.ID)
	s.after(waitUntil.Sub(now), func() { s.process(ev) })
	return ev
}

// cancelBlocked cancels the job's blocked evaluations; s.mu is held.
func (s *Server) cancelBlocked(js *jobState, why string) {
	for _, eid := range js.evals {
		if ev := s.evals[eid]; ev.Status == "blocked" {
			ev.Status, ev.StatusDescription = "canceled", why
			ev.ModifyIndex = s.bump()
		}
	}
}

// unblock re-evaluates blocked evaluations after capacity appeared.
func (s *Server) unblock() {
	for _, id := range sortedKeys(s.evals) {
		if ev := s.evals[id]; ev.Status == "blocked" {
			s.process(ev)
		}
	}
}

// selectNode returns the first feasible node in ID order, with the metric
// Nomad reports for the nodes it filtered or found exhausted. NodesInPool
// counts the ready nodes of the pool in the job's datacenters only
// (generic_sched.go, computePlacements; FACTS.md §C). The resources of
// replacing, the allocation being replaced, count as free.
func (s *Server) selectNode(job *api.Job, tg *api.TaskGroup, replacing *allocState) (*api.Node, *api.AllocationMetric) {
	pool := *job.NodePool
	if pool == "" {
		pool = "default"
	}
	m := &api.AllocationMetric{
		NodePool: pool, NodesAvailable: map[string]int{}, ClassFiltered: map[string]int{},
		ConstraintFiltered: map[string]int{}, ClassExhausted: map[string]int{},
		DimensionExhausted: map[string]int{},
	}
	start := time.Now()
	defer func() { m.AllocationTime = time.Since(start) }()
	for _, id := range sortedKeys(s.nodes) {
		n := s.nodes[id]
		if n.Status != api.NodeStatusReady || n.SchedulingEligibility != api.NodeSchedulingEligible || n.Drain {
			continue
		}
		if pool != "all" && n.NodePool != pool || !datacenterMatch(job.Datacenters, n.Datacenter) {
			continue
		}
		m.NodesInPool++
		m.NodesAvailable[n.Datacenter]++
		m.NodesEvaluated++
		if reason := infeasible(n, job, tg); reason != "" {
			m.NodesFiltered++
			m.ConstraintFiltered[reason]++
			if n.NodeClass != "" {
				m.ClassFiltered[n.NodeClass]++
			}
			continue
		}
		if dim := s.exhausted(n, tg, replacing); dim != "" {
			m.NodesExhausted++
			m.DimensionExhausted[dim]++
			if n.NodeClass != "" {
				m.ClassExhausted[n.NodeClass]++
			}
			continue
		}
		return n, m
	}
	return nil, m
}

func datacenterMatch(patterns []string, dc string) bool {
	if len(patterns) == 0 {
		return true // Nomad ≥ 1.5 defaults to "*"
	}
	for _, p := range patterns {
		if ok, _ := path.Match(p, dc); ok {
			return true
		}
	}
	return false
}

// infeasible returns the key Nomad uses in ConstraintFiltered for the first
// constraint or missing driver that rules the node out, or "".
func infeasible(n *api.Node, job *api.Job, tg *api.TaskGroup) string {
	cons := append(append([]*api.Constraint{}, job.Constraints...), tg.Constraints...)
	for _, t := range tg.Tasks {
		cons = append(cons, t.Constraints...)
	}
	for _, c := range cons {
		if !satisfied(n, c) {
			return fmt.Sprintf("%s %s %s", c.LTarget, c.Operand, c.RTarget)
		}
	}
	for _, t := range tg.Tasks {
		d := n.Drivers[t.Driver]
		if d == nil || !d.Detected || !d.Healthy {
			return "missing drivers"
		}
	}
	return ""
}

func satisfied(n *api.Node, c *api.Constraint) bool {
	l, lok := resolve(n, c.LTarget)
	r, rok := resolve(n, c.RTarget)
	switch c.Operand {
	case "", "=", "==", "is":
		return lok && rok && l == r
	case "!=", "not":
		return l != r
	case "is_set":
		return lok
	case "is_not_set":
		return !lok
	}
	return false // operands this test server does not model never match
}

// resolve interpolates a constraint target against a node.
func resolve(n *api.Node, target string) (string, bool) {
	if len(target) < 3 || target[:2] != "${" || target[len(target)-1] != '}' {
		return target, true
	}
	v, ok := nodeVar(n, target[2:len(target)-1])
	return v, ok
}

func nodeVar(n *api.Node, name string) (string, bool) {
	switch name {
	case "node.unique.id":
		return n.ID, true
	case "node.unique.name":
		return n.Name, true
	case "node.datacenter":
		return n.Datacenter, true
	case "node.class":
		return n.NodeClass, true
	case "node.pool":
		return n.NodePool, true
	}
	if len(name) > 5 && name[:5] == "attr." {
		v, ok := n.Attributes[name[5:]]
		return v, ok
	}
	if len(name) > 5 && name[:5] == "meta." {
		v, ok := n.Meta[name[5:]]
		return v, ok
	}
	return "", false
}

// exhausted names the resource dimension the group does not fit in, or "".
func (s *Server) exhausted(n *api.Node, tg *api.TaskGroup, replacing *allocState) string {
	cpu, mem := askOf(n, tg)
	usedCPU, usedMem := 0, 0
	for _, a := range s.allocs {
		if a.alloc.NodeID != n.ID || a.terminal() || a == replacing {
			continue
		}
		c, m := askOf(n, a.group())
		usedCPU, usedMem = usedCPU+c, usedMem+m
	}
	res, rsv := n.NodeResources, n.ReservedResources
	if usedCPU+cpu > int(res.Cpu.CpuShares)-int(rsv.Cpu.CpuShares) {
		return "cpu"
	}
	if usedMem+mem > int(res.Memory.MemoryMB)-int(rsv.Memory.MemoryMB) {
		return "memory"
	}
	return ""
}

// askOf is a group's CPU (MHz) and memory (MiB) on node n.
func askOf(n *api.Node, tg *api.TaskGroup) (cpu, mem int) {
	for _, t := range tg.Tasks {
		r := t.Resources
		if r == nil {
			continue
		}
		if r.Cores != nil && *r.Cores > 0 && n.NodeResources.Cpu.TotalCpuCores > 0 {
			cpu += *r.Cores * int(n.NodeResources.Cpu.CpuShares) / int(n.NodeResources.Cpu.TotalCpuCores)
		} else if r.CPU != nil {
			cpu += *r.CPU
		}
		if r.MemoryMB != nil {
			mem += *r.MemoryMB
		}
	}
	return cpu, mem
}

// placeAlloc creates the allocation on node, picks its ports and starts its
// tasks; s.mu is held.
// A replacement in a destructive update names the allocation it replaces,
// and its client starts it only once that one is terminal or unknown
// (client/allocwatcher, remotePrevAlloc.Wait): on a node that died with its
// agent, not before the node's heartbeat TTL expires.
func (s *Server) placeAlloc(ev *api.Evaluation, js *jobState, tg *api.TaskGroup, n *api.Node, m *api.AllocationMetric, idx int, prev *allocState) {
	index := s.bump()
	now := time.Now().UnixNano()
	job := clone(js.job)
	a := &api.Allocation{
		ID: uuid.NewString(), Namespace: *job.Namespace, EvalID: ev.ID,
		Name:   fmt.Sprintf("%s.%s[%d]", *job.ID, *tg.Name, idx),
		NodeID: n.ID, NodeName: n.Name, JobID: *job.ID, Job: job, TaskGroup: *tg.Name,
		Metrics: m, DesiredStatus: api.AllocDesiredStatusRun, ClientStatus: api.AllocClientStatusPending,
		TaskStates:  map[string]*api.TaskState{},
		CreateIndex: index, ModifyIndex: index, AllocModifyIndex: index, CreateTime: now, ModifyTime: now,
	}
	a.AllocatedResources = s.allocateResources(n, tg)
	for _, t := range tg.Tasks {
		a.TaskStates[t.Name] = &api.TaskState{State: "pending", Events: []*api.TaskEvent{
			taskEvent(api.TaskReceived, "Task received by client"),
		}}
	}
	st := &allocState{alloc: a, node: n, stop: make(chan struct{}), procs: map[string]*os.Process{}, prev: prev}
	if prev != nil {
		a.PreviousAllocation = prev.alloc.ID
	}
	s.allocs[a.ID] = st
	js.allocs = append(js.allocs, a.ID)
	s.publish(allocEvent("PlanResult", a))
	for _, t := range tg.Tasks {
		s.startTask(st, t)
	}
}

func (s *Server) allocateResources(n *api.Node, tg *api.TaskGroup) *api.AllocatedResources {
	host := n.Attributes["unique.network.ip-address"]
	out := &api.AllocatedResources{Tasks: map[string]*api.AllocatedTaskResources{}}
	network := &api.NetworkResource{Mode: "host", IP: host}
	for _, nw := range tg.Networks {
		for _, p := range nw.ReservedPorts {
			out.Shared.Ports = append(out.Shared.Ports, api.PortMapping{Label: p.Label, Value: p.Value, To: p.To, HostIP: host})
			network.ReservedPorts = append(network.ReservedPorts, p)
		}
		for _, p := range nw.DynamicPorts {
			p.Value = s.freePort(host)
			out.Shared.Ports = append(out.Shared.Ports, api.PortMapping{Label: p.Label, Value: p.Value, To: p.To, HostIP: host})
			network.DynamicPorts = append(network.DynamicPorts, p)
		}
	}
	out.Shared.Networks = []*api.NetworkResource{network}
	for _, t := range tg.Tasks {
		cpu, mem := askOf(n, &api.TaskGroup{Tasks: []*api.Task{t}})
		out.Tasks[t.Name] = &api.AllocatedTaskResources{
			Cpu:    api.AllocatedCpuResources{CpuShares: int64(cpu)},
			Memory: api.AllocatedMemoryResources{MemoryMB: int64(mem)},
		}
	}
	return out
}

// freePort picks a dynamic port that no live allocation holds and that can
// be bound on host now.
func (s *Server) freePort(host string) int {
	taken := map[int]bool{}
	for _, a := range s.allocs {
		if a.alloc.AllocatedResources != nil && (!a.terminal() || a.running()) {
			for _, p := range a.alloc.AllocatedResources.Shared.Ports {
				taken[p.Value] = true
			}
		}
	}
	span := s.cfg.MaxPort - s.cfg.MinPort + 1
	first := int(time.Now().UnixNano() % int64(span))
	for i := range span {
		p := s.cfg.MinPort + (first+i)%span
		if taken[p] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			l.Close()
			return p
		}
	}
	return 0
}
