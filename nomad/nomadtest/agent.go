package nomadtest

import (
	"syscall"
	"time"

	"github.com/hashicorp/nomad/api"
)

// agent is a node's Nomad client agent as the servers and its tasks see it.
// While it is away nobody reports for the node: its tasks run on unwatched,
// are not restarted, and their changes reach the servers only when it is
// back (client/allocrunner/taskrunner/task_runner.go, Restore).
type agent struct {
	live  bool          // heartbeating and reporting
	back  chan struct{} // closed when it has synced with the servers again
	epoch int           // moved by every kill and restart; stale timers check it
}

func liveAgent() *agent {
	back := make(chan struct{})
	close(back)
	return &agent{live: true, back: back}
}

// KillAgent kills the node's client agent (kill -9) and leaves its tasks
// running: raw_exec tasks survive their agent (FACTS.md §A). Nomad's
// timeline follows, timed by Config.HeartbeatTTL and the job's
// disconnect.lost_after:
//
//   - after HeartbeatTTL the node turns disconnected if an allocation
//     desired to run could reconnect, else down; its allocations with a
//     disconnect block become unknown (desired status unchanged), the others
//     lost, and Nomad wants the lost ones replaced (heartbeat.go; observed
//     on v2.0.5: the node change is published before the allocations');
//   - lost_after after turning unknown, allocations still desired to run
//     become lost/stop, and Nomad wants a replacement, which blocks while it
//     is pinned to this node; allocations already desired to stop stay
//     unknown for as long as the node is away (FACTS.md §A, §B);
//   - at the first check after no allocation can reconnect, the node turns
//     down.
func (s *Server) KillAgent(nodeID string) { s.killAgent(nodeID, false) }

// KillMachine is KillAgent with the machine dying too: every task process on
// the node dies at once, unseen. When the agent comes back it cannot
// reattach to them (task_runner.go Restore: "failed to restore task; will
// not run until server is contacted") and runs again the tasks still desired
// to run.
func (s *Server) KillMachine(nodeID string) { s.killAgent(nodeID, true) }

func (s *Server) killAgent(nodeID string, machine bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ag := s.agents[nodeID]
	if ag == nil {
		return
	}
	if ag.live {
		ag.live, ag.back = false, make(chan struct{})
	}
	ag.epoch++
	if machine {
		for _, aid := range sortedKeys(s.allocs) {
			if a := s.allocs[aid]; a.alloc.NodeID == nodeID {
				for _, p := range a.procs {
					syscall.Kill(-p.Pid, syscall.SIGKILL)
				}
			}
		}
	}
	epoch := ag.epoch
	s.after(s.cfg.HeartbeatTTL, func() { s.heartbeatMissed(nodeID, epoch) })
}

// heartbeatMissed is the servers' heartbeat timer firing for a dead agent
// (nomad/heartbeat.go, invalidateHeartbeat): the node turns disconnected
// while an allocation could still reconnect, else down; every status update
// but down re-arms the timer (node_endpoint.go, UpdateStatus). s.mu is held.
func (s *Server) heartbeatMissed(nodeID string, epoch int) {
	ag, n := s.agents[nodeID], s.nodes[nodeID]
	if ag.epoch != epoch || ag.live || n.Status == api.NodeStatusDown {
		return
	}
	status := api.NodeStatusDown
	if canDisconnect, pending := s.disconnectState(nodeID); canDisconnect && pending {
		status = api.NodeStatusDisconnected
	}
	prev := n.Status
	s.setNodeStatus(nodeID, status, "Node heartbeat missed")
	if status == api.NodeStatusDown || nodeStatusNeedsEval(prev, status) {
		s.nodeEvals(nodeID)
	}
	if status != api.NodeStatusDown {
		s.after(s.cfg.HeartbeatTTL, func() { s.heartbeatMissed(nodeID, epoch) })
	}
}

// disconnectState is heartbeat.go's: whether any allocation on the node
// has a disconnect window, and whether one of those is desired to run and
// not expired yet. Like Nomad it looks at every allocation, terminal or not.
func (s *Server) disconnectState(nodeID string) (canDisconnect, pending bool) {
	now := time.Now()
	for _, aid := range sortedKeys(s.allocs) {
		a := s.allocs[aid]
		if a.alloc.NodeID != nodeID || a.lostAfter() <= 0 {
			continue
		}
		canDisconnect = true
		if a.alloc.DesiredStatus == api.AllocDesiredStatusRun && !a.expired(now) {
			return true, true
		}
	}
	return canDisconnect, false
}

// nodeStatusNeedsEval is node_endpoint.go's nodeStatusTransitionRequiresEval.
func nodeStatusNeedsEval(prev, next string) bool {
	return prev == api.NodeStatusInit && next == api.NodeStatusReady ||
		prev == api.NodeStatusDown && next == api.NodeStatusReady ||
		(prev == api.NodeStatusDisconnected) != (next == api.NodeStatusDisconnected)
}

// nodeEvals creates a node-update evaluation for every job with an
// allocation on the node (node_endpoint.go, createNodeEvals); s.mu is held.
func (s *Server) nodeEvals(nodeID string) {
	for _, id := range sortedKeys(s.jobs) {
		js := s.jobs[id]
		for _, aid := range js.allocs {
			if s.allocs[aid].alloc.NodeID == nodeID {
				s.newEval(js.job, "node-update").NodeID = nodeID
				break
			}
		}
	}
}

// RestartAgent starts the node's agent again. A node that was down turns
// ready at once and blocked evaluations place on it: a replacement of a
// lost allocation pinned here starts here (FACTS.md §A). A disconnected node
// turns initializing until the agent has reported its allocations, then
// ready (node_endpoint.go, UpdateStatus). The report comes
// Config.ClientSyncDelay after the restart: unknown allocations still
// desired to run resume as running (disconnect.reconcile keep_original),
// and the others, and lost ones, show as running/stop until the agent kills
// their tasks, Config.ClientStopDelay later, and they complete.
func (s *Server) RestartAgent(nodeID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ag, n := s.agents[nodeID], s.nodes[nodeID]
	if ag == nil || ag.live {
		return
	}
	ag.epoch++
	epoch := ag.epoch
	n.ModifyIndex = s.bump()
	s.publish(nodeEvent("NodeRegistration", n))
	switch n.Status {
	case api.NodeStatusDown:
		s.setNodeStatus(nodeID, api.NodeStatusReady, "Node reregistered by heartbeat")
		s.nodeEvals(nodeID)
		s.unblock()
	case api.NodeStatusDisconnected:
		s.setNodeStatus(nodeID, api.NodeStatusInit, "")
		s.nodeEvals(nodeID)
	}
	s.after(s.cfg.ClientSyncDelay, func() { s.clientSync(nodeID, epoch) })
}

// clientSync is the restarted agent's first report: the client's view of
// the allocations the servers had given up on, which cancels their pending
// disconnect timeout (state_store.go, cancelFollowupEvalsForReconnect).
// s.mu is held.
func (s *Server) clientSync(nodeID string, epoch int) {
	ag := s.agents[nodeID]
	if ag.epoch != epoch {
		return
	}
	ag.live = true
	close(ag.back)
	for _, aid := range sortedKeys(s.allocs) {
		a := s.allocs[aid]
		if a.alloc.NodeID != nodeID {
			continue
		}
		status := a.alloc.ClientStatus
		if status != api.AllocClientStatusUnknown && status != api.AllocClientStatusLost {
			continue
		}
		a.unknownSince = time.Time{}
		if ev := s.evals[a.alloc.FollowupEvalID]; ev != nil && ev.Status == "pending" {
			ev.Status, ev.StatusDescription = "canceled", "allocs reconnected"
			ev.ModifyIndex = s.bump()
		}
		a.alloc.FollowupEvalID = ""
		s.setClientStatus(a)
	}
	if s.nodes[nodeID].Status == api.NodeStatusInit {
		s.setNodeStatus(nodeID, api.NodeStatusReady, "")
		s.nodeEvals(nodeID)
		s.unblock()
	}
	s.after(s.cfg.ClientStopDelay, func() {
		if ag.epoch != epoch {
			return
		}
		for _, aid := range sortedKeys(s.allocs) {
			a := s.allocs[aid]
			if a.alloc.NodeID == nodeID && a.alloc.DesiredStatus == api.AllocDesiredStatusStop && !a.terminal() {
				a.kill(false)
			}
		}
	})
}

// reporting reports whether the allocation's agent reports its changes.
func (s *Server) reporting(a *allocState) bool {
	ag := s.agents[a.alloc.NodeID]
	return ag == nil || ag.live
}

// awaitAgent waits until the allocation's agent is live, or the tasks are
// killed (false when the server closes); s.mu is not held.
func (s *Server) awaitAgent(a *allocState) bool {
	s.mu.Lock()
	back := s.agents[a.alloc.NodeID].back
	s.mu.Unlock()
	select {
	case <-back:
		return true
	case <-a.stop:
		return true
	case <-s.closing:
		return false
	}
}
