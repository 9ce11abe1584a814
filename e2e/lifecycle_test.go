package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/internal/fauxqstest"
	"github.com/ezlivestreaming/ezlive/internal/testenv"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/testfeed"
)

func TestLifecycleRedisStreams(t *testing.T) {
	t.Parallel()
	lifecycle(t, startSystem(t, []string{"-queue", "redis"}))
}

func TestLifecycleSQS(t *testing.T) {
	t.Parallel()
	// fauxqs is SQS and S3 at once: the origin stores in its bucket, so the
	// lifecycle's recordings (ffprobe) and deletion are checked there too.
	endpoint := fauxqstest.StartS3(t, "ezlive-e2e")
	queueArgs := []string{"-queue", "sqs", "-sqs-endpoint", endpoint, "-sqs-queue-name", "ezlive-e2e", "-sqs-create"}
	lifecycle(t, startSystem(t, queueArgs, s3Origin(endpoint, "ezlive-e2e")...))
}

// lifecycle: create the sample job → kill -9 the scheduler and start another
// → running, one transcoder → push → streaming with both renditions at the
// origin → stop → no ffmpeg left → resume (same id, key, spec) → push →
// streaming → stop → delete → outputs gone and 404.
func lifecycle(t *testing.T, s *system) {
	ctx := context.Background()
	body, err := os.ReadFile("../jobspec/testdata/sample_live_job.json")
	if err != nil {
		t.Fatal(err)
	}
	created, err := s.client.Create(ctx, body, false)
	if err != nil {
		t.Fatal(err)
	}
	s.killScheduler()
	s.startScheduler()
	running := s.waitState(created.Id, jobspec.StateRunning, 60*time.Second)
	s.waitFor(10*time.Second, "exactly one transcoder for the job", func() (bool, string) {
		pids := transcoders(running.Id)
		return len(pids) == 1, fmt.Sprintf("transcoders %v", pids)
	})

	s.pushUntilStreaming(created.Id)
	s.checkPublished(created.Id)
	s.stopAndCheck(created.Id)

	if _, err := s.client.Resume(ctx, created.Id); err != nil {
		t.Fatal(err)
	}
	resumed := s.waitState(created.Id, jobspec.StateRunning, 60*time.Second)
	if resumed.Id != created.Id || resumed.StreamKey != created.StreamKey || !reflect.DeepEqual(resumed.Spec, created.Spec) {
		t.Fatalf("resume changed the job: id %s key %s", resumed.Id, resumed.StreamKey)
	}
	if resumed.RtmpIngestUrl != created.RtmpIngestUrl || created.RtmpIngestUrl != s.ingestURL+"/"+created.StreamKey {
		t.Fatalf("ingest URL %q after resume, %q at creation: want the gateway's stable URL", resumed.RtmpIngestUrl, created.RtmpIngestUrl)
	}
	s.pushUntilStreaming(created.Id)
	s.stopAndCheck(created.Id)
	s.checkRecordings(created.Id, 2, created.Spec.Output.Segment_duration)

	deleting, err := s.client.Delete(ctx, created.Id)
	if err != nil {
		t.Fatal(err)
	}
	if deleting.State != jobspec.StateDeleting {
		t.Fatalf("state %s after DELETE, want deleting", deleting.State)
	}
	// The origin removes the outputs itself (no token is shared with the
	// scheduler); the scheduler removes the record, then reads are 404.
	s.waitFor(30*time.Second, "outputs removed from the origin", func() (bool, string) {
		left := s.storedFiles(created.Id, "*")
		return len(left) == 0, fmt.Sprint("left: ", left)
	})
	s.waitFor(30*time.Second, "job gone", func() (bool, string) {
		_, err := s.client.Get(ctx, created.Id)
		return err != nil && strings.Contains(err.Error(), "404"), fmt.Sprint(err)
	})
	if resp, err := http.Get(created.Playback_url); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("playback URL after delete: %s", resp.Status)
		}
	}
}

// pushUntilStreaming publishes a test pattern until the job streams; the
// feed stops when the test moves on.
func (s *system) pushUntilStreaming(id string) {
	s.t.Helper()
	job, err := s.client.Get(context.Background(), id)
	if err != nil {
		s.t.Fatal(err)
	}
	feeds := testfeed.New("ffmpeg", feedSize, nil)
	if err := feeds.Start(context.Background(), job); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(feeds.Close)
	s.waitState(id, jobspec.StateStreaming, 60*time.Second)
	s.waitFor(60*time.Second, "two segments of every rendition at the origin", func() (bool, string) {
		return s.segmentsPerRendition(id, 2)
	})
	feeds.Close()
}

// segmentsPerRendition reports whether every representation of the MPD has
// at least n segments stored at the origin by the job's current placement
// (a recorded job keeps the segments of its earlier runs too).
func (s *system) segmentsPerRendition(id string, n int) (bool, string) {
	job, err := s.client.Get(context.Background(), id)
	if err != nil {
		return false, err.Error()
	}
	files := s.storedFiles(id, fmt.Sprintf("chunk-g%dp*.m4s", job.Placement_generation))
	count := map[string]int{}
	for _, f := range files {
		parts := strings.Split(strings.TrimSuffix(f, ".m4s"), "-")
		if len(parts) >= 3 {
			count[parts[len(parts)-2]]++
		}
	}
	// Two video renditions and one audio: representations 0, 1 and 2.
	for _, rep := range []string{"0", "1", "2"} {
		if count[rep] < n {
			return false, fmt.Sprintf("segments per representation %v", count)
		}
	}
	return true, ""
}

// checkPublished reads the manifest through the origin as a player would.
func (s *system) checkPublished(id string) {
	s.t.Helper()
	job, err := s.client.Get(context.Background(), id)
	if err != nil {
		s.t.Fatal(err)
	}
	resp, err := http.Get(job.Playback_url)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var mpd strings.Builder
	buf := make([]byte, 64<<10)
	for {
		n, err := resp.Body.Read(buf)
		mpd.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/dash+xml" {
		s.t.Fatalf("manifest: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{`width="640" height="360"`, `width="768" height="432"`, `contentType="audio"`} {
		if !strings.Contains(mpd.String(), want) {
			s.t.Fatalf("manifest lacks %s:\n%s", want, mpd.String())
		}
	}
	if job.Stats == nil || job.Stats.Fps <= 0 {
		stats, _ := json.Marshal(job.Stats)
		s.t.Fatalf("streaming job reports no frame rate: %s", stats)
	}
}

// stopAndCheck stops the job and checks that neither its transcoder nor
// its ffmpeg is left.
func (s *system) stopAndCheck(id string) {
	s.t.Helper()
	if _, err := s.client.Stop(context.Background(), id); err != nil {
		s.t.Fatal(err)
	}
	s.waitState(id, jobspec.StateStopped, 60*time.Second)
	if pids := processesWith(id); len(pids) != 0 {
		s.t.Fatalf("processes of a stopped job are left: %v", pids)
	}
}

// TestGatewayCrashDoesNotBlockReconnect: kill -9 the ingest gateway while a
// publisher streams through it, start it again on the same address, and the
// encoder's next reconnect is relayed at once: the publish lock the crashed
// gateway left does not hold it off as "already publishing" (issue 17, F4).
func TestGatewayCrashDoesNotBlockReconnect(t *testing.T) {
	t.Parallel()
	s := startSystem(t, []string{"-queue", "redis"})
	job := createSample(t, s)
	s.waitState(job.Id, jobspec.StateRunning, 60*time.Second)
	s.pushUntilStreaming(job.Id) // leaves the job on its slate
	feeds := testfeed.New("ffmpeg", feedSize, nil)
	t.Cleanup(feeds.Close)
	if err := feeds.Start(context.Background(), s.job(job.Id)); err != nil {
		t.Fatal(err)
	}
	s.waitState(job.Id, jobspec.StateStreaming, 60*time.Second)
	s.gateway.Process.Kill()
	s.gateway.Wait()
	feeds.Stop(job.Id)
	s.gateway = s.start("ingest-after-crash", s.ingestArgs...)
	addr := strings.TrimPrefix(strings.TrimSuffix(s.ingestURL, "/live"), "rtmp://")
	testenv.WaitListening(t, addr, 30*time.Second)
	s.waitFor(30*time.Second, "the transcoder to lose its publisher", func() (bool, string) {
		j := s.job(job.Id)
		return !j.Input_lost_since.IsZero(), fmt.Sprintf("%s, input lost since %v", j.State, j.Input_lost_since)
	})
	if err := feeds.Start(context.Background(), s.job(job.Id)); err != nil {
		t.Fatal(err)
	}
	s.waitFor(60*time.Second, "the publisher back on the same stream", func() (bool, string) {
		j := s.job(job.Id)
		return j.State == jobspec.StateStreaming && j.Input_lost_since.IsZero(), fmt.Sprintf("%s, input lost since %v", j.State, j.Input_lost_since)
	})
}

func (s *system) job(id string) *jobspec.LiveJob {
	s.t.Helper()
	j, err := s.client.Get(context.Background(), id)
	if err != nil {
		s.t.Fatal(err)
	}
	return j
}
