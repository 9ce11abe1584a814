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
		fail bool // the attempt, when allowed, fails
		want bool
	}{
		{"1.1.1.1", 0, false, true},
		{"1.1.1.1", 0, false, true}, // successes never count
		{"1.1.1.1", 0, true, true},
		{"1.1.1.1", time.Second, true, true},
		{"1.1.1.1", 2 * time.Second, true, true},
		{"1.1.1.1", 3 * time.Second, false, false},
		{"2.2.2.2", 3 * time.Second, false, true}, // per address
		{"1.1.1.1", 59 * time.Second, false, false},
		{"1.1.1.1", 61 * time.Second, true, true}, // the first failure left the window
		{"1.1.1.1", 61 * time.Second, false, false},
	} {
		now := t0.Add(tt.at)
		got := l.allow(tt.ip, now)
		if got != tt.want {
			t.Fatalf("step %d (%s at %v): %v, want %v", i, tt.ip, tt.at, got, tt.want)
		}
		if got && tt.fail {
			l.fail(tt.ip, now)
		}
	}
}

// Refusals by the limit are logged the first time, then once a minute per
// address with the count since the last line.
func TestAttemptLimiterLogsOncePerMinute(t *testing.T) {
	t.Parallel()
	l := newAttemptLimiter(1)
	t0 := time.Unix(1000, 0)
	for i, tt := range []struct {
		ip   string
		at   time.Duration
		want int
	}{
		{"1.1.1.1", 0, 1},
		{"1.1.1.1", time.Second, 0},
		{"2.2.2.2", time.Second, 1}, // per address
		{"1.1.1.1", 30 * time.Second, 0},
		{"1.1.1.1", 60 * time.Second, 3},
		{"1.1.1.1", 61 * time.Second, 0},
		{"1.1.1.1", 2*time.Minute + time.Second, 2},
	} {
		if got := l.refused(tt.ip, t0.Add(tt.at)); got != tt.want {
			t.Fatalf("step %d (%s at %v): log %d refusals, want %d", i, tt.ip, tt.at, got, tt.want)
		}
	}
}
