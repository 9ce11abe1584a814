package store_test

import (
	"context"
	"testing"

	"github.com/ezlivestreaming/ezlive/store"
)

// capacity_changes moves exactly when a node's reserved cores drop, or when
// a scheduler notes a node coming up: the schedulers' signal to retry the
// waiting jobs.
func TestCapacityChangesCountDrops(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	steps := []struct {
		name string
		do   func() error
		want int64
	}{
		{"reserve", func() error { return s.Reserve(ctx, "n1", "a", 0.5) }, 0},
		{"reserve again", func() error { return s.Reserve(ctx, "n1", "a", 0.5) }, 0},
		{"place another", func() error {
			_, err := s.ReservePlacements(ctx, []store.Reservation{{Node: "n1", JobID: "b", CPU: 0.25, Capacity: 1}})
			return err
		}, 0},
		{"reserve less", func() error { return s.Reserve(ctx, "n1", "a", 0.25) }, 1},
		{"release", func() error { return s.Release(ctx, "n1", "a") }, 2},
		{"release again", func() error { return s.Release(ctx, "n1", "a") }, 2},
		{"release the last", func() error { return s.Release(ctx, "n1", "b") }, 3},
		{"node up", func() error { return s.NoteCapacity(ctx) }, 4},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if n, err := s.CapacityChanges(ctx); err != nil || n != st.want {
			t.Fatalf("after %s: capacity_changes = %d %v, want %d", st.name, n, err, st.want)
		}
	}
}
