//go:build srt && cgo

package ingest

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/internal/testenv"
	"github.com/ezlivestreaming/ezlive/jobspec"
)

// memJobs is a JobFinder over jobs in memory, for JobResolver.
type memJobs struct {
	mu   sync.Mutex
	jobs []*jobspec.LiveJob
}

// add makes a running job placed at addr with key and SRT passphrase.
func (m *memJobs) add(id, addr, key, passphrase string) *jobspec.LiveJob {
	j := &jobspec.LiveJob{Id: id, State: jobspec.StateRunning, Ingest_addr: addr}
	j.SetStreamKey(key, passphrase)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.jobs = append(m.jobs, j)
	return j
}

// rotate gives j a new key and passphrase, as the API does.
func (m *memJobs) rotate(j *jobspec.LiveJob, key, passphrase string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j.SetStreamKey(key, passphrase)
}

func (m *memJobs) JobByStreamKey(_ context.Context, key string) (*jobspec.LiveJob, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, j := range m.jobs {
		if j.StreamKey == key {
			c := *j
			return &c, nil
		}
	}
	return nil, jobspec.Errorf(jobspec.ENOTFOUND, "no job has this stream key")
}

// srtJobs serves SRT for cfg, resolving keys with a JobResolver over the
// jobs it returns, which the test adds, placed at transcoder.
func srtJobs(t *testing.T, cfg Config) (g *Gateway, srtAddr string, jobs *memJobs, transcoder *fakeTranscoder) {
	t.Helper()
	jobs = &memJobs{}
	cfg.Resolver = JobResolver{Jobs: jobs}
	g, _ = startGateway(t, cfg)
	return g, startSRT(t, g), jobs, newFakeTranscoder(t)
}

// srtURL is how a publisher is told to publish: the job's SrtIngestUrl.
func srtURL(srtAddr, key, passphrase string) string {
	j := jobspec.LiveJob{Ingest_gateway_srt: "srt://" + srtAddr}
	j.SetStreamKey(key, passphrase)
	return j.SrtIngestUrl
}

// startSRT serves SRT for g on a free loopback UDP port.
func startSRT(t *testing.T, g *Gateway) string {
	t.Helper()
	addr := testenv.FreeUDPAddr(t)
	done := make(chan error, 1)
	go func() { done <- g.ServeSRT(addr) }()
	t.Cleanup(func() {
		g.Close()
		if err := <-done; err != nil {
			t.Errorf("ServeSRT: %v", err)
		}
	})
	testenv.WaitFor(t, 30*time.Second, "the SRT listener", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.listeners) == 2
	})
	return addr
}

func srtPublisherArgs(url string, seconds int) []string {
	args := publisherArgs(url, seconds)
	args[len(args)-2] = "mpegts" // -f flv -> -f mpegts
	return args
}

// publishSRT publishes to url for seconds with ffmpeg; it returns what
// ffmpeg said and how it ended.
func publishSRT(url string, seconds int) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds+60)*time.Second) // a hang guard
	defer cancel()
	var log bytes.Buffer
	pub := exec.CommandContext(ctx, "ffmpeg", srtPublisherArgs(url, seconds)...)
	pub.Stderr = &log
	err := pub.Run()
	return log.String(), err
}

// refusedSRT checks that a publisher to url fails.
func refusedSRT(t *testing.T, name, url string) {
	t.Helper()
	if log, err := publishSRT(url+"&connect_timeout=3000", 2); err == nil {
		t.Fatalf("%s: ffmpeg published\n%s", name, log)
	}
}

// TestSRTThroughGateway: a publisher with its job's own passphrase gets
// its stream to the transcoder.
func TestSRTThroughGateway(t *testing.T) {
	needFFmpeg(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out := filepath.Join(t.TempDir(), "out.flv")
	port := testenv.FreePort(t)
	var listenerLog bytes.Buffer
	listener := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning",
		"-listen", "1", "-i", fmt.Sprintf("rtmp://127.0.0.1:%d/live/tk", port), "-c", "copy", "-f", "flv", out)
	listener.Stderr = &listenerLog
	if err := listener.Start(); err != nil {
		t.Fatal(err)
	}
	defer listener.Process.Kill()
	testenv.WaitListening(t, fmt.Sprintf("127.0.0.1:%d", port), 30*time.Second)
	jobs := &memJobs{}
	jobs.add("j1", fmt.Sprintf("127.0.0.1:%d", port), "tk", "j1-passphrase")
	jobs.add("j2", fmt.Sprintf("127.0.0.1:%d", port), "j2-key", "j2-passphrase")
	g, _ := startGateway(t, Config{Resolver: JobResolver{Jobs: jobs}})
	srtAddr := startSRT(t, g)

	if log, err := publishSRT(srtURL(srtAddr, "tk", "j1-passphrase")+"&pkt_size=1316", 4); err != nil {
		t.Fatalf("publisher with its job's passphrase: %v\n%s", err, log)
	}
	if err := listener.Wait(); err != nil {
		t.Fatalf("listener: %v\n%s", err, listenerLog.String())
	}
	streams, duration := probe(t, out)
	if !strings.Contains(streams, "video") || !strings.Contains(streams, "audio") || duration <= 2 {
		t.Fatalf("output has %q and %.1f s", streams, duration)
	}
}

// TestSRTRefusals: an SRT publisher gets through only with its job's own
// passphrase, the current one; any other fails the handshake and nothing
// reaches the transcoder.
func TestSRTRefusals(t *testing.T) {
	needFFmpeg(t)
	t.Parallel()
	g, srtAddr, jobs, transcoder := srtJobs(t, Config{})
	a := jobs.add("a", transcoder.addr(), "key-a", "passphrase-a")
	jobs.add("b", transcoder.addr(), "key-b", "passphrase-b")
	for _, tt := range []struct{ name, key, passphrase string }{
		{"wrong key", "wrong", "passphrase-a"},
		{"another job's passphrase", "key-a", "passphrase-b"},
		{"wrong passphrase", "key-a", "not-the-passphrase"},
		{"no passphrase", "key-a", ""},
	} {
		refusedSRT(t, tt.name, srtURL(srtAddr, tt.key, tt.passphrase))
	}
	jobs.rotate(a, "key-a2", "passphrase-a2")
	refusedSRT(t, "old passphrase after rotation", srtURL(srtAddr, "key-a2", "passphrase-a"))
	refusedSRT(t, "old key and passphrase after rotation", srtURL(srtAddr, "key-a", "passphrase-a"))
	if n := transcoder.conns.Load(); n != 0 {
		t.Fatalf("the transcoder got %d connections", n)
	}
	if st := g.Stats(); st.Accepted != 0 || st.Refused[ReasonUnknownKey] != 2 {
		t.Fatalf("stats %+v, want none accepted and 2 unknown keys", st)
	}
}

// TestSRTDeprecatedGatewayPassphrase: a job made before passphrases were
// per job has none; the deprecated gateway-wide one is required of it, and
// does not open any other job.
func TestSRTDeprecatedGatewayPassphrase(t *testing.T) {
	needFFmpeg(t)
	t.Parallel()
	_, srtAddr, jobs, transcoder := srtJobs(t, Config{SRTPassphrase: "gateway-passphrase"})
	jobs.add("old", transcoder.addr(), "key-old", "")
	jobs.add("new", transcoder.addr(), "key-new", "passphrase-new")
	for _, tt := range []struct{ name, key, passphrase string }{
		{"old job, no passphrase", "key-old", ""},
		{"new job, gateway passphrase", "key-new", "gateway-passphrase"},
	} {
		refusedSRT(t, tt.name, srtURL(srtAddr, tt.key, tt.passphrase))
	}
	if n := transcoder.conns.Load(); n != 0 {
		t.Fatalf("the transcoder got %d connections", n)
	}
	if log, err := publishSRT(srtURL(srtAddr, "key-old", "gateway-passphrase"), 2); err != nil {
		t.Fatalf("publisher with the gateway passphrase: %v\n%s", err, log)
	}
	transcoder.nextMedia(t)
}

// SRT publishers count against the same per-IP limit as RTMP ones.
func TestSRTRateLimitPerIP(t *testing.T) {
	needFFmpeg(t)
	t.Parallel()
	g, _ := startGateway(t, Config{MaxAttemptsPerMinute: 1, Resolver: StaticResolver{}})
	srtAddr := startSRT(t, g)
	for range 2 {
		refusedSRT(t, "unknown key", srtURL(srtAddr, "nokey", "some-passphrase"))
	}
	st := g.Stats()
	if st.Refused[ReasonUnknownKey] != 1 || st.Refused[ReasonRateLimited] < 1 {
		t.Fatalf("refused %v, want one unknown key, then rate limited", st.Refused)
	}
}

// TestSRTRelayIsWatched: an SRT relay holds its key's publish lock for as
// long as it runs, however short the lock's lease, and rotating the key
// (which revokes the passphrase) cuts it off, as it does an RTMP relay;
// the new key with the new passphrase gets through.
func TestSRTRelayIsWatched(t *testing.T) {
	needFFmpeg(t)
	t.Parallel()
	g, srtAddr, jobs, transcoder := srtJobs(t, Config{LockTTL: 300 * time.Millisecond})
	a := jobs.add("a", transcoder.addr(), "key-a", "passphrase-a")
	url := srtURL(srtAddr, "key-a", "passphrase-a")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var log bytes.Buffer
	first := exec.CommandContext(ctx, "ffmpeg", srtPublisherArgs(url, 60)...)
	first.Stderr = &log
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer first.Process.Kill()
	transcoder.nextMedia(t)
	refusedSRT(t, "a second publisher on the key", url) // well after the first lease would have expired
	if n := g.Stats().Refused[ReasonBusy]; n != 1 {
		t.Fatalf("%d refused as already publishing, want 1; transcoder connections: %d", n, transcoder.conns.Load())
	}
	jobs.rotate(a, "key-a2", "passphrase-a2")
	if err := first.Wait(); err == nil {
		t.Fatalf("the publisher was not cut off by the rotation; it ran its 60 s\n%s", log.String())
	}
	if log, err := publishSRT(srtURL(srtAddr, "key-a2", "passphrase-a2"), 2); err != nil {
		t.Fatalf("publisher with the new key and passphrase: %v\n%s", err, log)
	}
	testenv.WaitFor(t, 30*time.Second, "key-a, then key-a2, published to the transcoder", func() bool {
		return slices.Equal(transcoder.publishedNames(), []string{"key-a", "key-a2"})
	})
}
