// Command ingest is the ingest gateway benchmark of issue 7: the gateway's
// CPU per Mbit/s relayed, the latency it adds, and how many concurrent
// publishers it holds on this machine. The gateway runs as a child process
// (this program re-executed) so its CPU is measured alone; publishers and the
// stand-in transcoder are this process, written with package rtmp. It prints
// figures, asserts nothing and stops by itself.
//
// Run: go run ./bench/ingest [-publishers 200] [-seconds 10] [-mbps 100]
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ezlivestreaming/ezlive/ingest"
	"github.com/ezlivestreaming/ezlive/rtmp"
)

var (
	publishers = flag.Int("publishers", 200, "concurrent publishers in the capacity run")
	seconds    = flag.Int("seconds", 10, "seconds of each run")
	mbps       = flag.Float64("mbps", 100, "total Mbit/s offered in the throughput run")
	child      = flag.String("gateway-child", "", "internal: run the gateway relaying every key to this transcoder address")
)

func main() {
	flag.Parse()
	log.SetFlags(0)
	if *child != "" {
		runGatewayChild(*child)
		return
	}
	sink := startSink()
	gw := startGateway(sink.addr)
	defer gw.stop()
	fmt.Printf("ezlive ingest benchmark: %s, %d CPUs, gateway pid %d\n\n", runtime.Version(), runtime.NumCPU(), gw.cmd.Process.Pid)
	throughput(gw, sink)
	latency(gw, sink)
	capacity(gw, sink)
}

// throughput offers *mbps through 4 publishers of 25 fps "video" and reports
// the gateway's CPU per Mbit/s actually relayed.
func throughput(gw *gatewayProc, sink *sink) {
	const streams, fps = 4, 25
	frame := int(*mbps * 1e6 / 8 / streams / fps)
	before, bytes0 := gw.cpu(), sink.bytes.Load()
	start := time.Now()
	runPublishers(gw.addr, "tp", streams, time.Duration(*seconds)*time.Second, fps, frame, 0)
	wall := time.Since(start).Seconds()
	cpu := gw.cpu() - before
	relayed := float64(sink.bytes.Load()-bytes0) * 8 / 1e6 / wall
	fmt.Printf("throughput: %d publishers x %d fps x %d B frames for %.0f s\n", streams, fps, frame, wall)
	fmt.Printf("  relayed %.1f Mbit/s; gateway CPU %.2f s = %.1f%% of one core; %.3f%% of a core per Mbit/s\n\n",
		relayed, cpu, cpu/wall*100, cpu/wall*100/relayed)
}

// latency sends small timestamped frames directly to the transcoder and then
// through the gateway, and compares the one-way delays.
func latency(gw *gatewayProc, sink *sink) {
	direct := measureLatency(sink.addr, "lat-direct", sink)
	via := measureLatency(gw.addr, "lat-gateway", sink)
	fmt.Printf("latency (one-way, %d frames of 1 KiB at 50/s):\n", len(direct))
	fmt.Printf("  direct   p50 %v  p99 %v\n", pct(direct, 50), pct(direct, 99))
	fmt.Printf("  gateway  p50 %v  p99 %v\n", pct(via, 50), pct(via, 99))
	fmt.Printf("  added    p50 %v  p99 %v\n\n", pct(via, 50)-pct(direct, 50), pct(via, 99)-pct(direct, 99))
}

func measureLatency(addr, key string, s *sink) []time.Duration {
	runPublishers(addr, key, 1, 5*time.Second, 50, 1024, 0)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.delays[key+"-0"]
	slices.Sort(out)
	return out
}

// capacity holds *publishers at once, each at 25 fps x 2 KiB video and
// 43 audio frames/s, and counts those still flowing at the end.
func capacity(gw *gatewayProc, sink *sink) {
	before, bytes0 := gw.cpu(), sink.bytes.Load()
	start := time.Now()
	ok := runPublishers(gw.addr, "cap", *publishers, time.Duration(*seconds)*time.Second, 25, 2048, 20*time.Millisecond)
	wall := time.Since(start).Seconds()
	flowing := sink.flowingSince("cap-", time.Now().Add(-time.Second))
	fmt.Printf("capacity: %d publishers offered (~0.47 Mbit/s each) for %d s\n", *publishers, *seconds)
	cpuPct := (gw.cpu() - before) / wall * 100
	relayed := float64(sink.bytes.Load()-bytes0) * 8 / 1e6 / wall
	fmt.Printf("  published %d, still flowing in the last second %d; relayed %.1f Mbit/s (ramp-up included)\n", ok, flowing, relayed)
	fmt.Printf("  gateway CPU %.1f%% of one core (%.3f%% per Mbit/s with small frames), RSS %s\n", cpuPct, cpuPct/relayed, gw.rss())
}

// runPublishers runs n publishers named prefix-i for d, each sending fps video
// frames of size bytes (and AAC-rate audio when stagger > 0, the capacity
// run), dialing stagger apart. It returns how many published.
func runPublishers(addr, prefix string, n int, d time.Duration, fps, size int, stagger time.Duration) int {
	var wg sync.WaitGroup
	var ok atomic.Int32
	end := time.Now().Add(d + time.Duration(n)*stagger)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			c, err := rtmp.DialPublish(ctx, addr, "live", fmt.Sprintf("%s-%d", prefix, i), 4096)
			cancel()
			if err != nil {
				log.Printf("publisher %s-%d: %v", prefix, i, err)
				return
			}
			defer c.Close()
			go io.Copy(io.Discard, c.NetConn()) // acks and pings from the server
			ok.Add(1)
			sendFrames(c, end, fps, size, stagger > 0)
		}()
		time.Sleep(stagger)
	}
	wg.Wait()
	return int(ok.Load())
}

func sendFrames(c *rtmp.Client, end time.Time, fps, size int, audio bool) {
	frame := make([]byte, size)
	frame[0], frame[1] = 0x27, 1
	start := time.Now()
	tick := time.NewTicker(time.Second / time.Duration(fps))
	defer tick.Stop()
	for now := range tick.C {
		if now.After(end) {
			return
		}
		binary.BigEndian.PutUint64(frame[2:], uint64(time.Now().UnixNano()))
		ts := uint32(now.Sub(start).Milliseconds())
		if c.WriteMessage(&rtmp.Message{Type: rtmp.TypeVideo, StreamID: c.StreamID, Timestamp: ts, Payload: frame}) != nil {
			return
		}
		if audio { // ~43 AAC frames/s at 48 kHz: send the share of this video tick
			for range 2 {
				c.WriteMessage(&rtmp.Message{Type: rtmp.TypeAudio, StreamID: c.StreamID, Timestamp: ts, Payload: make([]byte, 200)})
			}
		}
	}
}

// sink is the stand-in transcoder: it accepts any publish and counts.
type sink struct {
	addr   string
	bytes  atomic.Uint64
	mu     sync.Mutex
	last   map[string]time.Time       // publish name -> last media received
	delays map[string][]time.Duration // publish name "lat-*" -> one-way delays
}

func startSink() *sink {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	s := &sink{addr: l.Addr().String(), last: map[string]time.Time{}, delays: map[string][]time.Duration{}}
	go func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			go s.serve(nc)
		}
	}()
	return s
}

func (s *sink) serve(nc net.Conn) {
	defer nc.Close()
	if rtmp.ServerHandshake(nc) != nil {
		return
	}
	c := rtmp.NewConn(nc, rtmp.Limits{})
	name := ""
	for {
		m, err := c.ReadMessage()
		if err != nil {
			return
		}
		if m.IsMedia() {
			s.media(name, m)
			continue
		}
		cmd, err := rtmp.ParseCommand(m)
		if err != nil {
			continue
		}
		switch cmd.Name {
		case "connect":
			c.AcceptConnect(cmd, 4096)
		case "createStream":
			c.Reply(0, cmd, 1.0)
		case "publish":
			name, _ = cmd.Arg(0).(string)
			c.WriteStatus(m.StreamID, rtmp.Status{Level: "status", Code: rtmp.CodePublishStart, Description: "ok"})
		}
	}
}

func (s *sink) media(name string, m *rtmp.Message) {
	now := time.Now()
	s.bytes.Add(uint64(len(m.Payload)))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last[name] = now
	if strings.HasPrefix(name, "lat-") && m.Type == rtmp.TypeVideo && len(m.Payload) >= 10 {
		sent := int64(binary.BigEndian.Uint64(m.Payload[2:]))
		s.delays[name] = append(s.delays[name], time.Duration(now.UnixNano()-sent))
	}
}

func (s *sink) flowingSince(prefix string, t time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for name, last := range s.last {
		if strings.HasPrefix(name, prefix) && last.After(t) {
			n++
		}
	}
	return n
}

// gatewayProc is the gateway child process.
type gatewayProc struct {
	cmd   *exec.Cmd
	addr  string
	stdin io.Closer
}

func startGateway(sinkAddr string) *gatewayProc {
	cmd := exec.Command(os.Args[0], "-gateway-child", sinkAddr)
	stdin, err := cmd.StdinPipe()
	check(err)
	stdout, err := cmd.StdoutPipe()
	check(err)
	cmd.Stderr = os.Stderr
	check(cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	check(err)
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "READY ")
	if !ok {
		log.Fatalf("gateway child said %q", line)
	}
	return &gatewayProc{cmd: cmd, addr: addr, stdin: stdin}
}

func (g *gatewayProc) stop() {
	g.stdin.Close()
	g.cmd.Wait()
}

// cpu is the child's user+system CPU seconds so far, from /proc.
func (g *gatewayProc) cpu() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", g.cmd.Process.Pid))
	check(err)
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ is 100 on Linux
}

func (g *gatewayProc) rss() string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", g.cmd.Process.Pid))
	check(err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// runGatewayChild serves a gateway that sends every key to transcoder, until
// stdin closes.
func runGatewayChild(transcoder string) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	g, err := ingest.New(ingest.Config{
		Resolver:             anyKey(transcoder),
		MaxAttemptsPerMinute: 100000, // every publisher comes from 127.0.0.1
		Logger:               slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	check(err)
	go g.Serve(l)
	fmt.Printf("READY %s\n", l.Addr())
	io.Copy(io.Discard, os.Stdin)
	g.Close()
}

type anyKey string

func (a anyKey) Resolve(_ context.Context, key string) (ingest.Target, error) {
	return ingest.Target{JobID: key, Addr: string(a), App: "live", StreamName: key}, nil
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, len(d)*p/100)].Round(time.Microsecond)
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
