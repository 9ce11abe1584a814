package cli

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ezlivestreaming/ezlive/apiserver"
	"github.com/ezlivestreaming/ezlive/client"
	"github.com/ezlivestreaming/ezlive/internal/redistest"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/queue"
	"github.com/ezlivestreaming/ezlive/recording"
	"github.com/ezlivestreaming/ezlive/store"
)

// TestJobsDeleteKeepingRecordings: jobs delete -keep-recordings deletes
// the job through a real API and names each recording kept, with its URL.
func TestJobsDeleteKeepingRecordings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	st := store.New(rdb)
	q, err := queue.NewRedisStream(rdb, queue.StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	api, err := apiserver.New(apiserver.Config{Store: st, Queue: q, Recordings: st, PlaybackBaseURL: "http://origin.test/"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(api.Handler())
	t.Cleanup(ts.Close)
	job := &jobspec.LiveJob{Id: uuid.NewString(), StreamKey: "key"}
	job.SetState(jobspec.StateStopped, "stopped by test", time.Now())
	if err := st.CreateJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveRecording(ctx, job.Id, recording.Info{Run: "g1p0", Duration: 4, HLS: true}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	asJSON := false
	if err := deleteKeepingRecordings(ctx, client.New(ts.URL, ""), clientOptions{asJSON: &asJSON}, job.Id, &out); err != nil {
		t.Fatal(err)
	}
	want := "kept recording g1p0 (4 s): http://origin.test/live/" + job.Id + "/recordings/g1p0/master.m3u8\n"
	if !strings.Contains(out.String(), "deleting") || !strings.HasSuffix(out.String(), want) {
		t.Errorf("printed:\n%s\nwant the job, deleting, and last %q", out.String(), want)
	}
}
