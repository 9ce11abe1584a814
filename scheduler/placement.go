package scheduler

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// Strategy chooses among the nodes that have room for a job.
type Strategy string

// The placement strategies.
const (
	LeastLoaded Strategy = "least-loaded" // most free CPU after placement
	RoundRobin  Strategy = "round-robin"  // next node in id order after the last choice
	Random      Strategy = "random"
)

// ParseStrategy checks a strategy name from configuration.
func ParseStrategy(s string) (Strategy, error) {
	switch st := Strategy(s); st {
	case LeastLoaded, RoundRobin, Random:
		return st, nil
	}
	return "", fmt.Errorf("unknown placement strategy %q (want least-loaded, round-robin or random)", s)
}

// Request is what placement knows of the job to place.
type Request struct {
	JobID   string
	CPU     float64         // estimated cores
	Avoid   map[string]bool // nodes to skip if any other fits (the one that just failed)
	Turn    uint64          // for round-robin: how many placements came before
	RandSrc *rand.Rand      // for random; nil uses the global source
}

// Choose is the placement decision: a pure function of the nodes, their
// loads (cores in use by node id) and the request. It returns the chosen node,
// or ok=false and the reason nothing fits. Nodes in req.Avoid are chosen only
// when no other node fits.
func Choose(nodes []Node, loads map[string]float64, req Request, st Strategy) (node Node, ok bool, reason string) {
	free := freeCores(nodes, loads)
	i, ok := choose(nodes, free, req, st)
	if !ok {
		return Node{}, false, noRoom(len(nodes), slices.Max(append(free, -1)), req.CPU)
	}
	return nodes[i], true, ""
}

// freeCores is each node's free cores, by index.
func freeCores(nodes []Node, loads map[string]float64) []float64 {
	free := make([]float64, len(nodes))
	for i, n := range nodes {
		free[i] = n.CPU - loads[n.ID]
	}
	return free
}

// choose is Choose over the nodes' free cores: the index of the chosen node.
func choose(nodes []Node, free []float64, req Request, st Strategy) (int, bool) {
	if st != RoundRobin && st != Random {
		return mostFree(nodes, free, req)
	}
	fits := fitting(free, req, func(i int) bool { return req.Avoid[nodes[i].ID] })
	if len(fits) == 0 {
		return 0, false
	}
	if st == RoundRobin {
		slices.SortFunc(fits, func(a, b int) int { return strings.Compare(nodes[a].ID, nodes[b].ID) })
		return fits[req.Turn%uint64(len(fits))], true
	}
	if req.RandSrc != nil {
		return fits[req.RandSrc.IntN(len(fits))], true
	}
	return fits[rand.IntN(len(fits))], true
}

// fitting returns the indexes of the nodes with room for the request,
// leaving out avoided nodes unless only avoided nodes have room.
func fitting(free []float64, req Request, avoided func(int) bool) []int {
	var fits, other []int
	for i, f := range free {
		if f < req.CPU {
			continue
		}
		if avoided(i) {
			other = append(other, i)
		} else {
			fits = append(fits, i)
		}
	}
	if len(fits) == 0 {
		return other
	}
	return fits
}

// mostFree picks, in one pass, the node with room for the request that has
// the most free CPU, ties broken by id so the decision is deterministic; an
// avoided node only when no other has room.
func mostFree(nodes []Node, free []float64, req Request) (int, bool) {
	best, bestAvoided := -1, -1
	better := func(i, than int) bool {
		return than < 0 || free[i] > free[than] || (free[i] == free[than] && nodes[i].ID < nodes[than].ID)
	}
	for i, f := range free {
		switch {
		case f < req.CPU:
		case req.Avoid[nodes[i].ID]:
			if better(i, bestAvoided) {
				bestAvoided = i
			}
		case better(i, best):
			best = i
		}
	}
	if best < 0 {
		best = bestAvoided
	}
	return best, best >= 0
}

func noRoom(nodes int, most, cpu float64) string {
	if nodes == 0 {
		return "no worker node is ready"
	}
	return fmt.Sprintf("no node has %.2f free cores for this ladder (most free: %.2f on %d ready nodes)", cpu, max(most, 0), nodes)
}

// Decision is where one request of a batch goes: a node, or ok=false and
// the reason nothing fits.
type Decision struct {
	Node   Node
	OK     bool
	Reason string
}

// ChooseAll decides a batch of requests on one snapshot, in order: a pure
// function of the nodes, their loads and the requests, which adds each
// placed request's cores to the loads before it decides the next, so that
// a batch never counts the same free cores twice (loads is not modified).
// Each decision is Choose's; a request larger than the most free cores on
// any node is not looked at further.
func ChooseAll(nodes []Node, loads map[string]float64, reqs []Request, st Strategy) []Decision {
	free := freeCores(nodes, loads)
	most := slices.Max(append(free, -1))
	out := make([]Decision, len(reqs))
	for k, r := range reqs {
		if r.CPU > most { // the common case with no capacity: no node is looked at
			out[k] = Decision{Reason: noRoom(len(nodes), most, r.CPU)}
			continue
		}
		i, ok := choose(nodes, free, r, st)
		if !ok {
			out[k] = Decision{Reason: noRoom(len(nodes), most, r.CPU)}
			continue
		}
		out[k] = Decision{Node: nodes[i], OK: true}
		free[i] -= r.CPU
		most = slices.Max(free)
	}
	return out
}
