package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/recording"
)

func TestRecordedFollowsTheSpec(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	off := jobspec.Flag(false)
	for _, c := range []struct {
		id   string
		spec jobspec.Spec
		want bool
	}{
		{"default", jobspec.Spec{}, true},
		{"off", jobspec.Spec{Recording: &off}, false},
		{"drm", jobspec.Spec{Output: jobspec.Output{Drm: &jobspec.Drm{}}}, false},
	} {
		j := newJob(c.id)
		j.Spec = c.spec
		if err := s.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Recorded(ctx, c.id); got != c.want || err != nil {
			t.Errorf("%s: Recorded = %v, %v; want %v", c.id, got, err, c.want)
		}
	}
	if got, err := s.Recorded(ctx, "nojob"); got || err != nil {
		t.Errorf("a job without a record: Recorded = %v, %v", got, err)
	}
}

func TestRecordingLifecycle(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	if err := s.CreateJob(ctx, newJob("j")); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	for i, run := range []string{"g2p0", "g1p0"} {
		info := recording.Info{Run: run, Started: t0.Add(time.Duration(-i) * time.Hour), Duration: 4, Bytes: 100, HLS: true}
		if err := s.SaveRecording(ctx, "j", info); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.Recordings(ctx, "j")
	if err != nil || len(list) != 2 || list[0].Run != "g1p0" || list[1].Run != "g2p0" {
		t.Fatalf("Recordings = %+v, %v; want g1p0 then g2p0", list, err)
	}
	if err := s.DeleteRecording(ctx, "j", "g1p0"); err != nil {
		t.Fatal(err)
	}
	// The origin indexes one more manifest of it: it stays deleted.
	if err := s.SaveRecording(ctx, "j", recording.Info{Run: "g1p0"}); err != nil {
		t.Fatal(err)
	}
	if keep, err := s.KeepRecording(ctx, "j", "g1p0"); keep || err != nil {
		t.Errorf("KeepRecording of a deleted one = %v, %v", keep, err)
	}
	if keep, err := s.KeepRecording(ctx, "j", "g2p0"); !keep || err != nil {
		t.Errorf("KeepRecording of a kept one = %v, %v", keep, err)
	}
	for _, run := range []string{"g1p0", "g9p0"} {
		if err := s.DeleteRecording(ctx, "j", run); jobspec.ErrorCode(err) != jobspec.ENOTFOUND {
			t.Errorf("DeleteRecording(%s) = %v, want not found", run, err)
		}
		if _, err := s.Recording(ctx, "j", run); jobspec.ErrorCode(err) != jobspec.ENOTFOUND {
			t.Errorf("Recording(%s) = %v, want not found", run, err)
		}
	}
	if err := s.ForgetRecording(ctx, "j", "g1p0"); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.Recordings(ctx, "j"); len(list) != 1 {
		t.Errorf("after forgetting: %+v", list)
	}
	if err := s.DeleteJob(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	if list, err := s.Recordings(ctx, "j"); len(list) != 0 || err != nil {
		t.Errorf("a deleted job's recordings: %+v, %v", list, err)
	}
}
