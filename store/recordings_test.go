package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/recording"
	"github.com/ezlivestreaming/ezlive/store"
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

// TestDeleteKeepingRecordings: a job deleted with Keep_recordings becomes
// a kept job, with its recordings and playback policy, if it has
// recordings, until the origin forgets it; any other deletion forgets its
// recordings.
func TestDeleteKeepingRecordings(t *testing.T) {
	t.Parallel()
	s, srv := newStore(t)
	ctx := context.Background()
	for _, c := range []struct {
		id               string
		keep, recordings bool
		kept             bool
	}{
		{"keep", true, true, true},
		{"keep-nothing", true, false, false},
		{"drop", false, true, false},
	} {
		j := newJob(c.id)
		j.Spec.Playback_policy = jobspec.PlaybackSigned
		if err := s.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		if c.recordings {
			if err := s.SaveRecording(ctx, c.id, recording.Info{Run: "g1p0", HLS: true}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.UpdateJob(ctx, c.id, func(j *jobspec.LiveJob) error {
			j.State, j.Keep_recordings = jobspec.StateDeleting, c.keep
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.RecordingsKept(ctx, c.id); got != c.keep || err != nil {
			t.Errorf("%s while deleting: RecordingsKept = %v, %v; want %v", c.id, got, err, c.keep)
		}
		if err := s.DeleteJob(ctx, c.id); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Job(ctx, c.id); jobspec.ErrorCode(err) != jobspec.ENOTFOUND {
			t.Errorf("%s: record after the deletion: %v", c.id, err)
		}
		got, err := s.RecordingsKept(ctx, c.id)
		stand, standErr := s.KeptJob(ctx, c.id)
		recs, _ := s.Recordings(ctx, c.id)
		if got != c.kept || err != nil || (standErr == nil) != c.kept || (len(recs) == 1) != c.kept {
			t.Fatalf("%s deleted: RecordingsKept = %v, %v; KeptJob %v; %d recordings; want kept %v", c.id, got, err, standErr, len(recs), c.kept)
		}
		if !c.kept {
			continue
		}
		if stand.Id != c.id || !jobspec.PlaybackSignedOf(stand.Spec) {
			t.Errorf("KeptJob = %+v, want the id and the signed policy", stand)
		}
		// A week on, Redis holds no job and no deletion on record: being
		// kept proves the job deleted.
		srv.Client(t).ZRem(ctx, store.KeyDeletedJobs, c.id)
		if keep, err := s.KeepOutputs(ctx, c.id); keep || err != nil {
			t.Errorf("KeepOutputs of a kept job = %v, %v; want false", keep, err)
		}
		if err := s.ForgetKeptJob(ctx, c.id); err != nil {
			t.Fatal(err)
		}
		got, _ = s.RecordingsKept(ctx, c.id)
		recs, _ = s.Recordings(ctx, c.id)
		if _, err := s.KeptJob(ctx, c.id); got || len(recs) != 0 || jobspec.ErrorCode(err) != jobspec.ENOTFOUND {
			t.Errorf("forgotten: RecordingsKept %v, %d recordings, KeptJob %v", got, len(recs), err)
		}
	}
}
