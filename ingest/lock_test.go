package ingest

import (
	"context"
	"testing"
	"time"
)

func TestMemoryLocker(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	l := NewMemoryLocker()
	l.now = func() time.Time { return now }
	ctx := context.Background()
	step := func(what string, got bool, err error, want bool) {
		t.Helper()
		if err != nil || got != want {
			t.Fatalf("%s: got %v, %v; want %v", what, got, err, want)
		}
	}
	ok, err := l.TryAcquire(ctx, "k", "a", 30*time.Second)
	step("a acquires", ok, err, true)
	ok, err = l.TryAcquire(ctx, "k", "b", 30*time.Second)
	step("b is refused", ok, err, false)
	ok, err = l.Renew(ctx, "k", "b", 30*time.Second)
	step("b cannot renew", ok, err, false)
	now = now.Add(20 * time.Second)
	ok, err = l.Renew(ctx, "k", "a", 30*time.Second)
	step("a renews", ok, err, true)
	now = now.Add(20 * time.Second)
	ok, err = l.TryAcquire(ctx, "k", "b", 30*time.Second)
	step("b refused within the renewed lease", ok, err, false)
	now = now.Add(11 * time.Second)
	ok, err = l.TryAcquire(ctx, "k", "b", 30*time.Second)
	step("b takes an expired lease", ok, err, true)
	ok, err = l.Renew(ctx, "k", "a", 30*time.Second)
	step("a lost it", ok, err, false)
	l.Release(ctx, "k", "a") // not a's: no effect
	ok, err = l.TryAcquire(ctx, "k", "c", 30*time.Second)
	step("c refused: b still holds", ok, err, false)
	l.Release(ctx, "k", "b")
	ok, err = l.TryAcquire(ctx, "k", "c", 30*time.Second)
	step("c acquires after release", ok, err, true)
}

func TestAttemptLimiter(t *testing.T) {
	t.Parallel()
	l := newAttemptLimiter(3)
	t0 := time.Unix(1000, 0)
	for i, tt := range []struct {
		ip   string
		at   time.Duration
		want bool
	}{
		{"1.1.1.1", 0, true},
		{"1.1.1.1", time.Second, true},
		{"1.1.1.1", 2 * time.Second, true},
		{"1.1.1.1", 3 * time.Second, false},
		{"2.2.2.2", 3 * time.Second, true}, // per address
		{"1.1.1.1", 59 * time.Second, false},
		{"1.1.1.1", 61 * time.Second, true}, // the first attempt left the window
		{"1.1.1.1", 61 * time.Second, false},
	} {
		if got := l.allow(tt.ip, t0.Add(tt.at)); got != tt.want {
			t.Fatalf("step %d (%s at %v): %v, want %v", i, tt.ip, tt.at, got, tt.want)
		}
	}
}
