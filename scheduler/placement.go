package scheduler

import (
	"fmt"
	"maps"
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
	fits := fitting(nodes, loads, req)
	if len(fits) == 0 {
		return Node{}, false, noRoomReason(nodes, loads, req.CPU)
	}
	switch st {
	case RoundRobin:
		slices.SortFunc(fits, func(a, b int) int { return strings.Compare(nodes[a].ID, nodes[b].ID) })
		return nodes[fits[req.Turn%uint64(len(fits))]], true, ""
	case Random:
		if req.RandSrc != nil {
			return nodes[fits[req.RandSrc.IntN(len(fits))]], true, ""
		}
		return nodes[fits[rand.IntN(len(fits))]], true, ""
	default:
		return mostFree(nodes, fits, loads), true, ""
	}
}

// fitting returns the indexes of the nodes with room for the request,
// leaving out avoided nodes unless only avoided nodes have room.
func fitting(nodes []Node, loads map[string]float64, req Request) []int {
	var fits, avoided []int
	for i := range nodes {
		if nodes[i].CPU-loads[nodes[i].ID] < req.CPU {
			continue
		}
		if req.Avoid[nodes[i].ID] {
			avoided = append(avoided, i)
		} else {
			fits = append(fits, i)
		}
	}
	if len(fits) == 0 {
		return avoided
	}
	return fits
}

// mostFree picks the node with the most free CPU, ties broken by id so the
// decision is deterministic.
func mostFree(nodes []Node, fits []int, loads map[string]float64) Node {
	best := fits[0]
	for _, i := range fits[1:] {
		free, bestFree := nodes[i].CPU-loads[nodes[i].ID], nodes[best].CPU-loads[nodes[best].ID]
		if free > bestFree || (free == bestFree && nodes[i].ID < nodes[best].ID) {
			best = i
		}
	}
	return nodes[best]
}

func noRoomReason(nodes []Node, loads map[string]float64, cpu float64) string {
	return noRoom(len(nodes), mostFreeCores(nodes, loads), cpu)
}

func noRoom(nodes int, most, cpu float64) string {
	if nodes == 0 {
		return "no worker node is ready"
	}
	return fmt.Sprintf("no node has %.2f free cores for this ladder (most free: %.2f on %d ready nodes)", cpu, max(most, 0), nodes)
}

// mostFreeCores is the most free cores on any node (-1 with no nodes).
func mostFreeCores(nodes []Node, used map[string]float64) float64 {
	most := -1.0
	for _, n := range nodes {
		most = max(most, n.CPU-used[n.ID])
	}
	return most
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
	used := maps.Clone(loads)
	if used == nil {
		used = map[string]float64{}
	}
	most := mostFreeCores(nodes, used)
	out := make([]Decision, len(reqs))
	for i, r := range reqs {
		if r.CPU > most { // the common case with no capacity: no node is looked at
			out[i] = Decision{Reason: noRoom(len(nodes), most, r.CPU)}
			continue
		}
		node, ok, reason := Choose(nodes, used, r, st)
		out[i] = Decision{Node: node, OK: ok, Reason: reason}
		if ok {
			used[node.ID] += r.CPU
			most = mostFreeCores(nodes, used)
		}
	}
	return out
}
