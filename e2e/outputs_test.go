package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/testfeed"
)

// TestOutputFailuresAreVisibleThenBounded: the origin cannot write the
// job's folder for a while: the record says since when its outputs fail
// and why, with output_failing / output_restored events, the state
// unchanged; when it cannot for longer than -output-failure-timeout the job
// fails with the error, and its transcoder is gone.
func TestOutputFailuresAreVisibleThenBounded(t *testing.T) {
	t.Parallel()
	const bound = 30 * time.Second // well above how long the first, short failure lasts
	s := startSystemWith(t, []string{"-queue", "redis"}, []string{"-output-failure-timeout", bound.String()})
	ctx := context.Background()
	job := s.waitState(createSample(t, s).Id, jobspec.StateRunning, 60*time.Second)
	feeds := testfeed.New("ffmpeg", feedSize, nil)
	if err := feeds.Start(ctx, job); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(feeds.Close)
	s.waitState(job.Id, jobspec.StateStreaming, 60*time.Second)
	s.waitFor(60*time.Second, "a segment of every rendition at the origin", func() (bool, string) {
		return s.segmentsPerRendition(job.Id, 1)
	})

	folder := filepath.Join(s.originRoot, job.Id)
	restore := unwritable(t, folder)
	failing := s.waitOutputs(job.Id, true)
	if failing.State != jobspec.StateStreaming || !strings.Contains(failing.Output_error, "origin answered 409") {
		t.Errorf("while failing: %s, error %q; want streaming, the origin's 409", failing.State, failing.Output_error)
	}
	restore()
	restored := s.waitOutputs(job.Id, false)
	var types []jobspec.EventType
	for _, ev := range restored.Events {
		if !ev.StateChange() {
			types = append(types, ev.Type)
		}
	}
	if want := []jobspec.EventType{jobspec.EventOutputFailing, jobspec.EventOutputRestored}; !slices.Equal(types, want) || restored.State != jobspec.StateStreaming {
		t.Errorf("after the folder came back: %s, events %v; want streaming, %v", restored.State, types, want)
	}

	unwritable(t, folder)
	failed := s.waitState(job.Id, jobspec.StateFailed, bound+60*time.Second)
	if !strings.HasPrefix(failed.State_reason, "outputs failing for") || !strings.Contains(failed.State_reason, "origin answered 409") {
		t.Errorf("failed with %q, want the output failure and its error", failed.State_reason)
	}
	s.waitFor(30*time.Second, "no transcoder left for the failed job", func() (bool, string) {
		pids := transcoders(job.Id)
		return len(pids) == 0, fmt.Sprintf("transcoders %v", pids)
	})
}

// waitOutputs waits until the job's record says its outputs fail (or not).
func (s *system) waitOutputs(id string, failing bool) *jobspec.LiveJob {
	s.t.Helper()
	var job *jobspec.LiveJob
	s.waitFor(30*time.Second, fmt.Sprintf("outputs failing = %v", failing), func() (bool, string) {
		job = s.job(id)
		return job.Output_failing_since.IsZero() != failing, fmt.Sprintf("%s, failing since %v (%q)", job.State, job.Output_failing_since, job.Output_error)
	})
	return job
}

// unwritable makes the origin unable to write the folder, in a way root
// cannot bypass (chmod does not stop root, chattr +i needs ext4 or the
// like): the folder is moved aside and a file put in its place, so every
// write under it fails (ENOTDIR: the origin answers 409). The origin may
// recreate the folder between two steps; each is retried until it holds.
// restore puts the folder back.
func unwritable(t *testing.T, folder string) (restore func()) {
	t.Helper()
	aside := folder + ".aside"
	if err := os.Rename(folder, aside); err != nil {
		t.Fatal(err)
	}
	until(t, "a file in the folder's place", func() error {
		if err := os.WriteFile(folder+".file", []byte("not a folder"), 0o644); err != nil {
			return err
		}
		err := os.Rename(folder+".file", folder)
		if err != nil {
			os.RemoveAll(folder) // recreated by a write meanwhile
		}
		return err
	})
	return func() {
		until(t, "the folder back", func() error {
			if fi, err := os.Lstat(folder); err == nil && !fi.IsDir() {
				os.Remove(folder)
			}
			err := os.Rename(aside, folder)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				os.RemoveAll(folder) // recreated by a write meanwhile
			}
			return err
		})
	}
}

// until retries step a few times until it succeeds.
func until(t *testing.T, what string, step func() error) {
	t.Helper()
	var err error
	for range 20 {
		if err = step(); err == nil {
			return
		}
	}
	t.Fatalf("%s: %v", what, err)
}
