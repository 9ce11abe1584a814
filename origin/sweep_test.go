package origin

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// retention is a test Retention: what the store would answer for each job.
type retention struct {
	mu      sync.Mutex
	answers map[string]string // job id → "keep", "deleted" or "unknown" (store down); absent: "deleted"
	asked   []string
	deleted chan []string // what Deletions reports
}

var errStoreDown = errors.New("store unavailable")

func newRetention(pairs ...string) *retention {
	r := &retention{answers: map[string]string{}, deleted: make(chan []string)}
	for i := 0; i+1 < len(pairs); i += 2 {
		r.answers[pairs[i]] = pairs[i+1]
	}
	return r
}

func (r *retention) KeepOutputs(_ context.Context, id string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked = append(r.asked, id)
	switch r.answers[id] {
	case "keep":
		return true, nil
	case "unknown":
		return false, errStoreDown
	}
	return false, nil
}

func (r *retention) set(id, answer string) {
	r.mu.Lock()
	r.answers[id] = answer
	r.mu.Unlock()
}

func (r *retention) Deletions(ctx context.Context, after string, _ time.Duration) ([]string, string, error) {
	if after == "" {
		return nil, "0", nil
	}
	select {
	case ids := <-r.deleted:
		return ids, after + "+", nil
	case <-ctx.Done():
		return nil, after, ctx.Err()
	}
}

// jobFolder writes a file of job id straight to disk, its folder last
// written age ago.
func (f *fixture) jobFolder(id string, age time.Duration) {
	f.t.Helper()
	dir := filepath.Join(f.root, id)
	if err := os.MkdirAll(filepath.Join(dir, "v"), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "v", "seg_1.m4s"), []byte("s"), 0o644); err != nil {
		f.t.Fatal(err)
	}
	then := time.Now().Add(-age)
	if err := os.Chtimes(dir, then, then); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) hasFolder(id string) bool {
	_, err := os.Stat(filepath.Join(f.root, id))
	return err == nil
}

func (f *fixture) sweeper(r Retention) *Sweeper {
	f.t.Helper()
	w, err := f.srv.NewSweeper(SweeperConfig{Retention: r, MinAge: time.Minute})
	if err != nil {
		f.t.Fatal(err)
	}
	return w
}

func TestSweepRemovesOnlyDeletedJobs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	r := newRetention("live", "keep", "deleting", "deleted", "young-and-gone", "deleted")
	f.jobFolder("gone", time.Hour)     // record vanished while the origin was down
	f.jobFolder("deleting", time.Hour) // record says deleting
	f.jobFolder("live", time.Hour)
	f.jobFolder("young-and-gone", time.Second) // written a moment ago: the next sweep's
	os.WriteFile(filepath.Join(f.root, "not-a-folder"), []byte("x"), 0o644)
	os.Mkdir(filepath.Join(f.root, "bad.name"), 0o755)

	removed, err := f.sweeper(r).Sweep(context.Background())
	if err != nil || removed != 2 {
		t.Fatalf("Sweep: removed %d, %v; want 2", removed, err)
	}
	for id, want := range map[string]bool{"gone": false, "deleting": false, "live": true, "young-and-gone": true, "not-a-folder": true, "bad.name": true} {
		if got := f.hasFolder(id); got != want {
			t.Errorf("%s kept %v, want %v", id, got, want)
		}
	}
	if got := strings.Join(r.asked, ","); got != "deleting,gone,live" {
		t.Errorf("asked about %s; want only the job folders old enough", got)
	}
}

// TestSweepRemovesNothingUnknown: only a definite "deleted" removes. An
// answer the store cannot give stops the sweep there.
func TestSweepRemovesNothingUnknown(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	r := newRetention("b", "unknown")
	for _, id := range []string{"a", "b", "c"} {
		f.jobFolder(id, time.Hour)
	}
	removed, err := f.sweeper(r).Sweep(context.Background())
	if !errors.Is(err, errStoreDown) || removed != 1 {
		t.Fatalf("Sweep: removed %d, %v; want 1 and the store's error", removed, err)
	}
	for id, want := range map[string]bool{"a": false, "b": true, "c": true} {
		if got := f.hasFolder(id); got != want {
			t.Errorf("%s kept %v, want %v", id, got, want)
		}
	}
}

// TestSweeperFollowsDeletions: a reported deletion is acted on at once,
// however young the folder, and only on a definite answer.
func TestSweeperFollowsDeletions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	r := newRetention("job1", "keep", "job2", "keep")
	f.jobFolder("job1", 0)
	f.jobFolder("job2", 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.sweeper(r).Run(ctx) }()

	r.set("job2", "unknown")
	r.deleted <- []string{"job2", "never-had-outputs"}
	r.set("job1", "deleted")
	r.deleted <- []string{"job1"}
	for deadline := time.Now().Add(30 * time.Second); f.hasFolder("job1"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("job1's outputs not removed after its deletion was reported")
		}
	}
	if !f.hasFolder("job2") {
		t.Error("job2 removed on an answer the store could not give")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestFailingSweepsBackOffAndLogOnce: a sweep that cannot make progress is
// logged once, retried later and later, and its recovery is logged.
func TestFailingSweepsBackOffAndLogOnce(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	f := newFixture(t, Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	r := newRetention("job1", "unknown")
	f.jobFolder("job1", time.Hour)
	w := f.sweeper(r)
	ctx := context.Background()
	var delays []time.Duration
	for range 6 {
		delays = append(delays, w.sweepAndPace(ctx))
	}
	want := []time.Duration{2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 10 * time.Minute, 10 * time.Minute, 10 * time.Minute}
	if !slices.Equal(delays, want) {
		t.Errorf("delays %v, want %v", delays, want)
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings for one outage, want 1:\n%s", n, logs.String())
	}
	r.set("job1", "keep")
	if d := w.sweepAndPace(ctx); d != DefaultSweepInterval {
		t.Errorf("delay after recovery %v", d)
	}
	if !strings.Contains(logs.String(), "works again") {
		t.Errorf("recovery not logged:\n%s", logs.String())
	}
	if !f.hasFolder("job1") {
		t.Error("job1 removed")
	}
}

func TestNewSweeperNeedsRetention(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	if _, err := f.srv.NewSweeper(SweeperConfig{}); err == nil {
		t.Error("a Sweeper without Retention was accepted")
	}
}

// sizes is a Sizes that keeps what it is told.
type sizes struct {
	mu sync.Mutex
	n  map[string]int64
}

func (s *sizes) SaveJobBytes(_ context.Context, id string, n int64, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if at.IsZero() {
		return errors.New("no time of measurement")
	}
	s.n[id] = n
	return nil
}

// TestSweepMeasuresKeptJobs: a sweep tells Sizes the bytes of every kept
// job and none of a job whose outputs it removes.
func TestSweepMeasuresKeptJobs(t *testing.T) {
	eachBackend(t, func(t *testing.T, _ string, newF func(Config) *fixture) {
		f := newF(Config{Authorizer: newTokens("job1", "T1", "job2", "T1", "job3", "T1")})
		f.put("/live/job1/v/seg_1.m4s", []byte("12345"))
		f.put("/live/job1/index.m3u8", []byte("123"))
		f.put("/live/job2/v/seg_1.m4s", []byte("deleted"))
		got := &sizes{n: map[string]int64{}}
		w, err := f.srv.NewSweeper(SweeperConfig{Retention: newRetention("job1", "keep"), MinAge: time.Nanosecond, Sizes: got})
		if err != nil {
			t.Fatal(err)
		}
		if removed, err := w.Sweep(t.Context()); removed != 1 || err != nil {
			t.Fatalf("Sweep: removed %d, %v; want 1", removed, err)
		}
		if want := map[string]int64{"job1": 8}; !maps.Equal(got.n, want) {
			t.Errorf("Sizes told %v, want %v", got.n, want)
		}
	})
}
