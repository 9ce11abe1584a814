package scheduler

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestChoose(t *testing.T) {
	nodes := []Node{{ID: "a", CPU: 2}, {ID: "b", CPU: 2}, {ID: "c", CPU: 1}}
	tests := []struct {
		name     string
		nodes    []Node
		loads    map[string]float64
		req      Request
		strategy Strategy
		want     string // "" means no node
		reason   string // part of the reason when want is ""
	}{
		{"least loaded picks most free", nodes, map[string]float64{"a": 1.5, "b": 0.5}, Request{CPU: 0.3}, LeastLoaded, "b", ""},
		{"ties go to the lowest id", nodes, nil, Request{CPU: 0.3}, LeastLoaded, "a", ""},
		{"capacity respected", nodes, map[string]float64{"a": 1.9, "b": 1.9, "c": 0.2}, Request{CPU: 0.5}, LeastLoaded, "c", ""},
		{"nothing fits", nodes, map[string]float64{"a": 1.9, "b": 1.9, "c": 0.9}, Request{CPU: 0.5}, LeastLoaded, "", "no node has 0.50 free cores"},
		{"no nodes", nil, nil, Request{CPU: 0.1}, LeastLoaded, "", "no worker node is ready"},
		{"avoid the failed node", nodes, nil, Request{CPU: 0.3, Avoid: map[string]bool{"a": true}}, LeastLoaded, "b", ""},
		{"avoided node used when alone", nodes[:1], nil, Request{CPU: 0.3, Avoid: map[string]bool{"a": true}}, LeastLoaded, "a", ""},
		{"round robin turn 0", nodes, nil, Request{CPU: 0.3, Turn: 0}, RoundRobin, "a", ""},
		{"round robin turn 4", nodes, nil, Request{CPU: 0.3, Turn: 4}, RoundRobin, "b", ""},
		{"round robin skips full", nodes, map[string]float64{"b": 2}, Request{CPU: 0.3, Turn: 1}, RoundRobin, "c", ""},
		{"random only among fitting", nodes, map[string]float64{"a": 2, "c": 1}, Request{CPU: 0.3, RandSrc: rand.New(rand.NewPCG(1, 2))}, Random, "b", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, reason := Choose(tt.nodes, tt.loads, tt.req, tt.strategy)
			if tt.want == "" {
				if ok || !strings.Contains(reason, tt.reason) {
					t.Fatalf("got %s (ok=%v, reason %q), want no node because %q", got.ID, ok, reason, tt.reason)
				}
				return
			}
			if !ok || got.ID != tt.want {
				t.Fatalf("got %q (ok=%v, %s), want %q", got.ID, ok, reason, tt.want)
			}
		})
	}
}

func TestParseStrategy(t *testing.T) {
	for _, s := range []string{"least-loaded", "round-robin", "random"} {
		if _, err := ParseStrategy(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if _, err := ParseStrategy("best"); err == nil {
		t.Error("unknown strategy accepted")
	}
}
