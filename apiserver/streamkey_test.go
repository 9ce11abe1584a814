package apiserver_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ezlivestreaming/ezlive/apiserver"
	"github.com/ezlivestreaming/ezlive/jobspec"
)

func TestRotateStreamKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *apiserver.Config) {
		c.IngestGateway, c.IngestGatewaySRT = "rtmp://ingest.test/live", "srt://ingest.test:9710"
	})
	created := e.putJob(jobspec.StateStreaming)
	if created.RtmpIngestUrl != "rtmp://ingest.test/live/"+created.StreamKey {
		t.Fatalf("ingest URL behind a gateway: %q", created.RtmpIngestUrl)
	}
	checkSRT(t, created)
	rotated := e.do(http.MethodPost, "/jobs/"+created.Id+"/stream_key", nil).want(t, http.StatusOK).job(t)
	if rotated.StreamKey == "" || rotated.StreamKey == created.StreamKey {
		t.Fatalf("stream key %q after rotation (was %q)", rotated.StreamKey, created.StreamKey)
	}
	checkSRT(t, rotated)
	if rotated.Srt_passphrase == created.Srt_passphrase {
		t.Fatalf("the SRT passphrase %q did not change with the key", rotated.Srt_passphrase)
	}
	if rotated.Id != created.Id || rotated.State != created.State || rotated.RtmpIngestUrl != "rtmp://ingest.test/live/"+rotated.StreamKey {
		t.Fatalf("rotation: id %s state %s ingest %s", rotated.Id, rotated.State, rotated.RtmpIngestUrl)
	}
	ctx := ctxT(t)
	if _, err := e.store.JobByStreamKey(ctx, created.StreamKey); jobspec.ErrorCode(err) != jobspec.ENOTFOUND {
		t.Fatalf("old key still resolves: %v", err)
	}
	if j, err := e.store.JobByStreamKey(ctx, rotated.StreamKey); err != nil || j.Id != created.Id {
		t.Fatalf("new key: %v %v", j, err)
	}
	e.do(http.MethodPost, "/jobs/01a20cb6-bd84-7ba2-8afa-0aeed45ed14c/stream_key", nil).want(t, http.StatusNotFound).problem(t)
	deleting := e.putJob(jobspec.StateDeleting)
	if p := e.do(http.MethodPost, "/jobs/"+deleting.Id+"/stream_key", nil).want(t, http.StatusConflict).problem(t); p.State != jobspec.StateDeleting {
		t.Errorf("409 %+v does not name state deleting", p)
	}
	if j, err := e.store.Job(ctxT(t), deleting.Id); err != nil || j.StreamKey != deleting.StreamKey {
		t.Errorf("stream key of a deleting job changed: %v %v", j, err)
	}
}

// checkSRT checks that job has an SRT passphrase of its own that SRT
// accepts (10 to 79 characters), not derived from its key, and that its
// SRT ingest URL carries both as ffmpeg and OBS take them.
func checkSRT(t *testing.T, job *jobspec.LiveJob) {
	t.Helper()
	p := job.Srt_passphrase
	if len(p) < 10 || len(p) > 79 || strings.Contains(p, job.StreamKey) || url.QueryEscape(p) != p {
		t.Fatalf("SRT passphrase %q (stream key %q)", p, job.StreamKey)
	}
	if want := "srt://ingest.test:9710?streamid=" + job.StreamKey + "&passphrase=" + p; job.SrtIngestUrl != want {
		t.Fatalf("SrtIngestUrl %q, want %q", job.SrtIngestUrl, want)
	}
}
