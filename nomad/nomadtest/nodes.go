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
	// Down registers a node whose agent died long ago: status down, no
	// heartbeat; RestartAgent brings it back.
	Down bool
}

// AddNode registers a ready (or, with spec.Down, down), eligible client node
// and returns its ID.
func (s *Server) AddNode(spec NodeSpec) string {
	n := newNode(spec)
	s.mu.Lock()
	defer s.mu.Unlock()
	index := s.bump()
	n.CreateIndex, n.ModifyIndex = index, index
	s.nodes[n.ID] = n
	s.nodeEnv[n.ID] = spec.Env
	ag := liveAgent()
	if spec.Down {
		n.Status, ag = api.NodeStatusDown, &agent{back: make(chan struct{})}
	}
	s.agents[n.ID] = ag
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

// setNodeStatus changes the node's status, with a node event when event is
// set. Nomad leaves StatusDescription empty on these transitions (observed
// on v2.0.5); the reason is in the node's events only.
func (s *Server) setNodeStatus(id, status, event string) {
	n := s.nodes[id]
	n.Status, n.StatusDescription, n.StatusUpdatedAt = status, "", time.Now().Unix()
	if event != "" {
		n.Events = append(n.Events, &api.NodeEvent{Message: event, Subsystem: "Cluster", Timestamp: time.Now().UTC()})
	}
	n.ModifyIndex = s.bump()
	s.publish(nodeEvent("NodeStreamEvent", n))
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
