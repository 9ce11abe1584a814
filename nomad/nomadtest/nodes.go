package nomadtest

import (
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/nomad/api"
)

// NodeSpec describes a client node to add. Zero fields get defaults.
type NodeSpec struct {
	ID, Name   string
	Address    string // host its tasks bind; 127.0.0.1 by default
	Cores      int    // 2 by default
	MHzPerCore int    // 2000 by default
	MemoryMB   int    // 4096 by default
	Pool       string // "default" by default
	Class      string
	Datacenter string   // "dc1" by default
	Drivers    []string // raw_exec and exec by default
	Meta       map[string]string
	// Env is the client agent's own environment beyond this process's,
	// which raw_exec and exec tasks inherit ("Nomad passes the host
	// environment variables to exec, raw_exec and java tasks": client
	// configuration, env.denylist). Operators put worker settings there.
	Env map[string]string
}

// AddNode registers a ready, eligible client node and returns its ID.
func (s *Server) AddNode(spec NodeSpec) string {
	n := newNode(spec)
	s.mu.Lock()
	defer s.mu.Unlock()
	index := s.bump()
	n.CreateIndex, n.ModifyIndex = index, index
	s.nodes[n.ID] = n
	s.nodeEnv[n.ID] = spec.Env
	s.publish(nodeEvent("NodeRegistration", n))
	s.unblock()
	return n.ID
}

func newNode(spec NodeSpec) *api.Node {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&spec.ID, uuid.NewString())
	def(&spec.Name, "node-"+spec.ID[:min(len(spec.ID), 8)])
	def(&spec.Address, "127.0.0.1")
	def(&spec.Pool, "default")
	def(&spec.Datacenter, "dc1")
	if spec.Cores == 0 {
		spec.Cores = 2
	}
	if spec.MHzPerCore == 0 {
		spec.MHzPerCore = 2000
	}
	if spec.MemoryMB == 0 {
		spec.MemoryMB = 4096
	}
	if spec.Drivers == nil {
		spec.Drivers = []string{"raw_exec", "exec"}
	}
	drivers := map[string]*api.DriverInfo{}
	attrs := map[string]string{
		"unique.network.ip-address": spec.Address,
		"unique.hostname":           spec.Name,
		"kernel.name":               "linux",
		"cpu.numcores":              strconv.Itoa(spec.Cores),
	}
	for _, d := range spec.Drivers {
		drivers[d] = &api.DriverInfo{Detected: true, Healthy: true, HealthDescription: "Healthy", UpdateTime: time.Now().UTC()}
		attrs["driver."+d] = "1"
	}
	return &api.Node{
		ID: spec.ID, Name: spec.Name, Datacenter: spec.Datacenter,
		HTTPAddr: spec.Address + ":4646", Attributes: attrs,
		NodeResources: &api.NodeResources{
			Cpu:            api.NodeCpuResources{CpuShares: int64(spec.Cores * spec.MHzPerCore), TotalCpuCores: uint16(spec.Cores)},
			Memory:         api.NodeMemoryResources{MemoryMB: int64(spec.MemoryMB)},
			Disk:           api.NodeDiskResources{DiskMB: 100 * 1024},
			MinDynamicPort: 20000, MaxDynamicPort: 32000,
		},
		ReservedResources:     &api.NodeReservedResources{},
		Meta:                  spec.Meta,
		NodeClass:             spec.Class,
		NodePool:              spec.Pool,
		Drivers:               drivers,
		SchedulingEligibility: api.NodeSchedulingEligible,
		Status:                api.NodeStatusReady,
		StatusUpdatedAt:       time.Now().Unix(),
	}
}

// NodeDown marks the node down, as Nomad does once it misses its heartbeats
// (and, for a disconnected node, once lost_after has passed): its
// allocations become lost. With killProcesses the processes die with the
// node; otherwise they keep running, cut off, as on a partitioned node.
func (s *Server) NodeDown(id string, killProcesses bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.setNodeStatus(id, api.NodeStatusDown, "node heartbeat missed") == nil {
		return
	}
	for _, a := range s.allocsOn(id) {
		s.markLost(a)
		if killProcesses {
			a.kill(true)
		}
	}
}

// NodeDisconnect marks the node disconnected, as Nomad does when a node
// misses its heartbeats and has allocations with a disconnect block: those
// become unknown and keep running; the others are lost. NodeUp reconnects
// it, NodeDown declares it lost.
func (s *Server) NodeDisconnect(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.setNodeStatus(id, api.NodeStatusDisconnected, "node heartbeat missed") == nil {
		return
	}
	for _, a := range s.allocsOn(id) {
		if d := a.group().Disconnect; d == nil || d.LostAfter == nil || *d.LostAfter <= 0 {
			s.markLost(a)
			continue
		}
		a.cutOff = true
		a.alloc.ClientStatus = api.AllocClientStatusUnknown
		a.alloc.ClientDescription = "alloc is unknown since its node is disconnected"
		s.allocChanged(a, "AllocationUpdated")
	}
}

// allocsOn lists the node's allocations that are not terminal; s.mu is held.
func (s *Server) allocsOn(nodeID string) []*allocState {
	var out []*allocState
	for _, aid := range sortedKeys(s.allocs) {
		if a := s.allocs[aid]; a.alloc.NodeID == nodeID && !a.terminal() {
			out = append(out, a)
		}
	}
	return out
}

func (s *Server) markLost(a *allocState) {
	a.cutOff = true
	a.alloc.ClientStatus = api.AllocClientStatusLost
	a.alloc.ClientDescription = "alloc is lost since its node is down"
	a.alloc.DesiredStatus = api.AllocDesiredStatusStop
	a.alloc.DesiredDescription = "alloc is lost since its node is down"
	s.allocChanged(a, "AllocationUpdated")
}

// NodeUp marks the node ready again. Its client reports the allocations it
// kept while disconnected (keep_original), stops those the servers stopped
// meanwhile, and kills the processes of its lost allocations.
func (s *Server) NodeUp(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.setNodeStatus(id, api.NodeStatusReady, "node reconnected") == nil {
		return
	}
	for _, aid := range sortedKeys(s.allocs) {
		a := s.allocs[aid]
		if a.alloc.NodeID != id || !a.cutOff {
			continue
		}
		if a.alloc.ClientStatus == api.AllocClientStatusUnknown {
			a.cutOff = false
			s.setClientStatus(a)
		}
		if a.alloc.DesiredStatus == api.AllocDesiredStatusStop {
			a.kill(false)
		}
	}
	s.unblock()
}

// SetEligibility marks the node eligible or ineligible for new placements.
func (s *Server) SetEligibility(id string, eligible bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nodes[id]
	if n == nil {
		return
	}
	n.SchedulingEligibility = api.NodeSchedulingIneligible
	if eligible {
		n.SchedulingEligibility = api.NodeSchedulingEligible
	}
	n.ModifyIndex = s.bump()
	s.publish(nodeEvent("NodeEligibility", n))
	if eligible {
		s.unblock()
	}
}

func (s *Server) setNodeStatus(id, status, why string) *api.Node {
	n := s.nodes[id]
	if n == nil {
		return nil
	}
	n.Status, n.StatusDescription, n.StatusUpdatedAt = status, why, time.Now().Unix()
	n.Events = append(n.Events, &api.NodeEvent{Message: why, Subsystem: "Cluster", Timestamp: time.Now().UTC()})
	n.ModifyIndex = s.bump()
	s.publish(nodeEvent("NodeStreamEvent", n))
	return n
}

func (s *Server) listNodes(w http.ResponseWriter, r *http.Request) {
	withResources := boolParam(r, "resources")
	s.query(w, r, func() (any, error) {
		out := []*api.NodeListStub{}
		for _, id := range sortedKeys(s.nodes) {
			if !hasPrefix(r, id) {
				continue
			}
			n := s.nodes[id]
			stub := &api.NodeListStub{
				Address: n.Attributes["unique.network.ip-address"], ID: n.ID, Datacenter: n.Datacenter,
				Name: n.Name, NodeClass: n.NodeClass, NodePool: n.NodePool, Version: "1.10.0",
				Drain: n.Drain, SchedulingEligibility: n.SchedulingEligibility, Status: n.Status,
				StatusDescription: n.StatusDescription, Drivers: n.Drivers,
				CreateIndex: n.CreateIndex, ModifyIndex: n.ModifyIndex,
			}
			if withResources {
				stub.NodeResources, stub.ReservedResources = n.NodeResources, n.ReservedResources
			}
			out = append(out, stub)
		}
		return out, nil
	})
}

func (s *Server) getNode(w http.ResponseWriter, r *http.Request) {
	s.query(w, r, func() (any, error) {
		n := s.nodes[r.PathValue("id")]
		if n == nil {
			return nil, notFound("node")
		}
		return n, nil
	})
}
