//go:build srt && cgo

package ingest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/internal/testenv"
)

const testPassphrase = "ezlive-srt-secret"

// startSRT serves SRT for g on a free loopback UDP port.
func startSRT(t *testing.T, g *Gateway) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
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
	g, _ := startGateway(t, Config{SRTPassphrase: testPassphrase, Resolver: StaticResolver{
		"user-key": {JobID: "j1", Addr: fmt.Sprintf("127.0.0.1:%d", port), App: "live", StreamName: "tk"}}})
	srtAddr := startSRT(t, g)

	var pubLog bytes.Buffer
	pub := exec.CommandContext(ctx, "ffmpeg", srtPublisherArgs(fmt.Sprintf("srt://%s?streamid=user-key&passphrase=%s&pkt_size=1316", srtAddr, testPassphrase), 4)...)
	pub.Stderr = &pubLog
	if err := pub.Run(); err != nil {
		t.Fatalf("publisher: %v\n%s", err, pubLog.String())
	}
	if err := listener.Wait(); err != nil {
		t.Fatalf("listener: %v\n%s", err, listenerLog.String())
	}
	streams, duration := probe(t, out)
	if !strings.Contains(streams, "video") || !strings.Contains(streams, "audio") || duration <= 2 {
		t.Fatalf("output has %q and %.1f s", streams, duration)
	}
}

func TestSRTRefusals(t *testing.T) {
	needFFmpeg(t)
	t.Parallel()
	transcoder := newConnCounter(t)
	g, _ := startGateway(t, Config{SRTPassphrase: testPassphrase, Resolver: StaticResolver{
		"right": {Addr: transcoder.addr(), App: "live", StreamName: "right"}}})
	srtAddr := startSRT(t, g)
	for _, tt := range []struct{ name, query string }{
		{"wrong key", "streamid=wrong&passphrase=" + testPassphrase},
		{"wrong passphrase", "streamid=right&passphrase=not-the-secret"},
		{"no passphrase", "streamid=right"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		var log bytes.Buffer
		pub := exec.CommandContext(ctx, "ffmpeg", srtPublisherArgs("srt://"+srtAddr+"?"+tt.query+"&connect_timeout=3000", 2)...)
		pub.Stderr = &log
		err := pub.Run()
		cancel()
		if err == nil {
			t.Fatalf("%s: ffmpeg published\n%s", tt.name, log.String())
		}
	}
	if n := transcoder.conns.Load(); n != 0 {
		t.Fatalf("the transcoder got %d connections", n)
	}
	if g.Stats().Refused[ReasonUnknownKey] != 1 {
		t.Fatalf("stats %+v", g.Stats())
	}
}

// SRT publishers count against the same per-IP limit as RTMP ones.
func TestSRTRateLimitPerIP(t *testing.T) {
	needFFmpeg(t)
	t.Parallel()
	g, _ := startGateway(t, Config{SRTPassphrase: testPassphrase, MaxAttemptsPerMinute: 1, Resolver: StaticResolver{}})
	srtAddr := startSRT(t, g)
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		pub := exec.CommandContext(ctx, "ffmpeg", srtPublisherArgs("srt://"+srtAddr+"?streamid=nokey&passphrase="+testPassphrase+"&connect_timeout=3000", 1)...)
		if err := pub.Run(); err == nil {
			t.Fatal("ffmpeg published with an unknown key")
		}
		cancel()
	}
	st := g.Stats()
	if st.Refused[ReasonUnknownKey] != 1 || st.Refused[ReasonRateLimited] < 1 {
		t.Fatalf("refused %v, want one unknown key, then rate limited", st.Refused)
	}
}
