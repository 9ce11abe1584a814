package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/internal/testenv"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/testfeed"
)

// TestSRTPassphrasePerJob: through the whole platform, with no gateway-wide
// passphrase, a job's SrtIngestUrl as the API gives it (its stream key and
// its own passphrase) streams; rotating the key cuts that publisher off,
// the old URL and the old passphrase with the new key are refused, and the
// new URL streams.
func TestSRTPassphrasePerJob(t *testing.T) {
	t.Parallel()
	s := startSystem(t, []string{"-queue", "redis"})
	srtAddr := testenv.FreeUDPAddr(t)
	s.gateway.Process.Kill()
	s.gateway.Wait()
	s.gateway = s.start("ingest-srt", append(s.ingestArgs, "-srt-listen", srtAddr)...)
	s.restartAPI("-ingest-srt-gateway", "srt://"+srtAddr)
	job := createSample(t, s)
	if !strings.HasSuffix(job.SrtIngestUrl, "&passphrase="+job.Srt_passphrase) || job.Srt_passphrase == "" {
		t.Fatalf("SrtIngestUrl %q, Srt_passphrase %q", job.SrtIngestUrl, job.Srt_passphrase)
	}
	s.waitState(job.Id, jobspec.StateRunning, 60*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	first, firstLog := srtPublisher(ctx, job.SrtIngestUrl, 120)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer first.Process.Kill()
	s.waitState(job.Id, jobspec.StateStreaming, 60*time.Second)

	rotated, err := s.client.RotateStreamKey(ctx, job.Id)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Wait(); err == nil {
		t.Fatalf("the publisher was not cut off by the rotation\n%s", firstLog)
	}
	stale := strings.Replace(rotated.SrtIngestUrl, rotated.Srt_passphrase, job.Srt_passphrase, 1)
	for _, url := range []string{job.SrtIngestUrl, stale} {
		pub, log := srtPublisher(ctx, url+"&connect_timeout=3000", 2)
		if err := pub.Run(); err == nil {
			t.Fatalf("published to %s\n%s", url, log)
		}
	}
	// The running transcoder learns the new key from its next heartbeat's
	// reply: the new URL streams with no stop and resume, and the input
	// lost with the old publisher (the slate plays meanwhile) is restored.
	s.waitFor(30*time.Second, "the input lost with the cut-off publisher", func() (bool, string) {
		j := s.job(job.Id)
		return !j.Input_lost_since.IsZero(), fmt.Sprintf("%s, input lost since %v", j.State, j.Input_lost_since)
	})
	again, _ := srtPublisher(ctx, rotated.SrtIngestUrl, 120)
	if err := again.Start(); err != nil {
		t.Fatal(err)
	}
	defer again.Process.Kill()
	s.waitFor(60*time.Second, "the new key's publisher", func() (bool, string) {
		j := s.job(job.Id)
		return j.State == jobspec.StateStreaming && j.Input_lost_since.IsZero(), fmt.Sprintf("%s, input lost since %v", j.State, j.Input_lost_since)
	})
}

// srtPublisher is ffmpeg pushing the test pattern to an srt:// URL for
// seconds; its stderr goes to the returned buffer.
func srtPublisher(ctx context.Context, url string, seconds int) (*exec.Cmd, *bytes.Buffer) {
	args := testfeed.ArgsWithoutClock(url, feedSize)
	args = slices.Insert(args, len(args)-3, "-t", fmt.Sprint(seconds))
	args[len(args)-2] = "mpegts" // -f flv -> -f mpegts
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	var log bytes.Buffer
	cmd.Stderr = &log
	return cmd, &log
}
