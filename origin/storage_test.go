package origin

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// bucketOf is a test JobStorage: job1 is kept in bucket, under the key
// "b1", while its record lasts (gone false); every other job in the default.
type bucketOf struct {
	bucket Storage
	gone   atomic.Bool
}

func (b *bucketOf) StorageOf(_ context.Context, jobID string) (Storage, string, error) {
	if jobID == "job1" && !b.gone.Load() {
		return b.bucket, "b1", nil
	}
	return nil, "", nil
}

func (b *bucketOf) Reopen(context.Context, string) (Storage, error) { return b.bucket, nil }

// TestJobInItsOwnStorage: a job JobStorage puts elsewhere is stored and
// served from there, and read and removed from there even by an origin
// restarted after the job's record is gone (the spool folder's marker
// names it).
func TestJobInItsOwnStorage(t *testing.T) {
	t.Parallel()
	choice := &bucketOf{bucket: newTestS3(t)}
	f := newFixture(t, Config{JobStorage: choice})
	f.put("/live/job1/v/seg_1.m4s", []byte("in the bucket"))
	if _, body := f.get("/live/job1/v/seg_1.m4s"); string(body) != "in the bucket" {
		t.Errorf("served %q", body)
	}
	if n, _ := storedBytes(t.Context(), choice.bucket, "job1/"); n != int64(len("in the bucket")) {
		t.Errorf("bucket holds %d bytes of job1", n)
	}
	if _, ok := f.stored("job1/v/seg_1.m4s"); !ok {
		t.Error("not found through the job's storage")
	}
	if n, _ := storedBytes(t.Context(), f.srv.storage, "job1/"); n != 0 {
		t.Errorf("the default storage holds %d bytes of job1", n)
	}

	choice.gone.Store(true)
	restarted, err := New(Config{Root: f.root, Authorizer: newTokens(), JobStorage: choice, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	defer restarted.Close()
	if n, err := restarted.JobBytes(t.Context(), "job1"); n != int64(len("in the bucket")) || err != nil {
		t.Errorf("JobBytes after the record is gone: %d, %v", n, err)
	}
	if b, err := restarted.readStored(t.Context(), "job1/v/seg_1.m4s"); string(b) != "in the bucket" {
		t.Errorf("read after the record is gone (kept recordings are): %q, %v", b, err)
	}
	if err := restarted.RemoveJob(t.Context(), "job1"); err != nil {
		t.Fatal(err)
	}
	if n, err := storedBytes(t.Context(), choice.bucket, "job1/"); n != 0 || err != nil {
		t.Errorf("bucket still holds %d bytes of job1 (%v)", n, err)
	}
}

// TestSweepOnS3: with S3 as the default Storage, a sweep finds the jobs in
// the bucket and removes the deleted one's objects and spool folder.
func TestSweepOnS3(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{Storage: newTestS3(t)})
	f.put("/live/job1/v/seg_1.m4s", []byte("deleted job"))
	if resp := f.do(http.MethodPut, "/live/job2/v/seg_1.m4s", strings.NewReader("kept"), "Authorization", "Bearer T2"); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT job2: %d", resp.StatusCode)
	}
	w, err := f.srv.NewSweeper(SweeperConfig{Retention: newRetention("job2", "keep"), MinAge: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if removed, err := w.Sweep(t.Context()); removed != 1 || err != nil {
		t.Errorf("Sweep: removed %d, %v; want 1", removed, err)
	}
	if folders := f.folders(); !slices.Equal(folders, []string{"job2"}) {
		t.Errorf("bucket holds %v after the sweep, want [job2]", folders)
	}
	if f.hasFolder("job1") {
		t.Error("job1's spool folder is left")
	}
}

// TestStorageList: List names every file under a folder, with its size,
// and nothing of the folders beside it, on each backend.
func TestStorageList(t *testing.T) {
	eachBackend(t, func(t *testing.T, _ string, newF func(Config) *fixture) {
		f := newF(Config{Authorizer: newTokens("job1", "T1", "job11", "T1")})
		for _, name := range []string{"job1/v-g1p0-1.ts", "job1/v/seg_1.m4s", "job1/recordings/g1p0/info.json", "job11/a.ts"} {
			f.put("/live/"+name, []byte(name))
		}
		for _, c := range []struct {
			prefix string
			want   []string
		}{
			{"job1/", []string{"job1/recordings/g1p0/info.json", "job1/v-g1p0-1.ts", "job1/v/seg_1.m4s"}},
			{"job1/recordings/", []string{"job1/recordings/g1p0/info.json"}},
			{"job2/", nil},
		} {
			if names := f.list(c.prefix); !slices.Equal(names, c.want) {
				t.Errorf("List(%q) = %v, want %v", c.prefix, names, c.want)
			}
		}
		files, _ := f.srv.storage.List(t.Context(), "job1/v/")
		if len(files) != 1 || files[0].Size != int64(len("job1/v/seg_1.m4s")) || files[0].ModTime.IsZero() {
			t.Errorf("List(job1/v/) = %+v", files)
		}
	})
}
