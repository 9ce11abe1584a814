// Command media is the media benchmark of issue 2 §6: the CPU cost of the
// sample ladder through ffmpeg.Args against a hand-written single
// ffmpeg and against one decode per rendition, how soon the transcoder's
// RTMP listener is ready, and how soon the first segment reaches the origin.
// It prints figures and asserts nothing. Run: go run ./bench/media
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/ezlivestreaming/ezlive/internal/testenv"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ezlivestreaming/ezlive/ffmpeg"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/origin"
	"github.com/ezlivestreaming/ezlive/transcoder"
)

var (
	seconds     = flag.Int("seconds", 20, "media seconds in the pre-generated input")
	runs        = flag.Int("runs", 3, "runs of each measurement (the median is printed)")
	specArg     = flag.String("spec", "jobspec/testdata/sample_live_job.json", "job spec whose ladder is measured")
	verbose     = flag.Bool("v", false, "print every run")
	latencyOnly = flag.Bool("latency-only", false, "skip the CPU comparison")
)

const token = "bench-token"

func main() {
	flag.Parse()
	log.SetFlags(0)
	spec := loadSpec(*specArg)
	work, err := os.MkdirTemp("", "ezlive-bench-")
	check(err)
	defer os.RemoveAll(work)
	org := startOrigin(filepath.Join(work, "origin"))
	defer org.srv.Close()

	input := filepath.Join(work, "input.flv")
	fmt.Printf("ezlive media benchmark: %s, %d CPUs, ladder %s\n", ffmpegVersion(), runtime.NumCPU(), jobspec.Summary(spec))
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average at start: %s (figures on a busy machine are noisy)\n", strings.TrimSpace(string(load)))
	}
	generateInput(input, *seconds)
	fmt.Printf("input: %d s of testsrc2 1280x720 25 fps + sine (H.264/AAC flv), generated once\n\n", *seconds)

	if !*latencyOnly {
		cpuComparison(spec, input, org)
	}
	listenerReady(spec, org)
	firstSegment("", spec, input, org)
	ll := spec
	ll.Output.Low_latency_mode = true
	firstSegment("with Low_latency_mode (-tune zerolatency)", ll, input, org)
}

func loadSpec(path string) jobspec.Spec {
	b, err := os.ReadFile(path)
	check(err)
	var s jobspec.Spec
	check(json.Unmarshal(b, &s))
	jobspec.Defaults(&s)
	check(jobspec.Validate(s))
	return s
}

// benchOrigin is the real origin in process; it notes when each file
// first became visible.
type benchOrigin struct {
	srv    *httptest.Server
	mu     sync.Mutex
	writes []write
}

type write struct {
	path string
	at   time.Time
}

func startOrigin(root string) *benchOrigin {
	h, err := origin.New(origin.Config{Root: root, Authorizer: origin.AuthorizerFunc(
		func(_ context.Context, _, tok string) error {
			if tok != token {
				return fmt.Errorf("bad token")
			}
			return nil
		})})
	check(err)
	o := &benchOrigin{}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: 200}
		h.ServeHTTP(rec, r)
		if r.Method == http.MethodPut && rec.status < 300 {
			o.mu.Lock()
			o.writes = append(o.writes, write{r.URL.Path, time.Now()})
			o.mu.Unlock()
		}
	}))
	return o
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

func (o *benchOrigin) jobURL(job string) string { return o.srv.URL + "/live/" + job + "/" }

// firstWrite is when the first file of job matching match became visible
// at or after not.
func (o *benchOrigin) firstWrite(job string, notBefore time.Time, match func(name string) bool) (time.Time, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, w := range o.writes {
		name, ok := strings.CutPrefix(w.path, "/live/"+job+"/")
		if ok && match(name) && !w.at.Before(notBefore) {
			return w.at, true
		}
	}
	return time.Time{}, false
}

func generateInput(path string, secs int) {
	cmd := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", strconv.Itoa(secs), "-c:v", ffmpeg.Encoder("h264"), "-preset", "veryfast", "-g", "50", "-b:v", "3M", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "128k", "-f", "flv", path)
	if out, err := cmd.CombinedOutput(); err != nil {
		log.Fatalf("generate input: %v\n%s", err, out)
	}
}

// ezliveArgs is the transcoder's ffmpeg reading the pre-generated FLV file
// instead of the transcoder's splice.
func ezliveArgs(spec jobspec.Spec, input, outURL string) []string {
	return ffmpeg.Args(spec, ffmpeg.Target{Input: input, OutputURL: outURL, UploadToken: token})
}

// handArgs is the best single ffmpeg for the ladder written by hand: one
// decode, split+scale, per-stream rate control, same packaging.
func handArgs(spec jobspec.Spec, input, outURL string) []string {
	o := spec.Output
	var graph strings.Builder
	fmt.Fprintf(&graph, "[0:v]split=%d", len(o.Video_outputs))
	for i := range o.Video_outputs {
		fmt.Fprintf(&graph, "[s%d]", i)
	}
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-i", input}
	for i, v := range o.Video_outputs {
		fmt.Fprintf(&graph, ";[s%d]scale=%d:%d[v%d]", i, v.Width, v.Height, i)
	}
	args = append(args, "-filter_complex", graph.String())
	for i, v := range o.Video_outputs {
		g := strconv.Itoa(int(v.Gop_size * v.Framerate))
		s := ":v:" + strconv.Itoa(i)
		args = append(args, "-map", fmt.Sprintf("[v%d]", i), "-c"+s, ffmpeg.Encoder(v.Codec), "-preset"+s, v.Preset,
			"-threads"+s, strconv.Itoa(v.Threads), "-g"+s, g, "-keyint_min"+s, g, "-sc_threshold"+s, "0",
			"-b"+s, v.Bitrate, "-maxrate"+s, v.Max_bitrate, "-bufsize"+s, v.Buf_size)
		args = append(args, lookahead(s, v)...)
	}
	args = append(args, "-map", "0:a", "-c:a", "aac", "-b:a", o.Audio_outputs[0].Bitrate)
	return append(args, packaging(o, outURL, "id=0,streams=v id=1,streams=a")...)
}

// lookahead gives the references the encoder settings the transcoder uses
// (ffmpeg.LookaheadFrames), so the CPU comparison stays like for like.
func lookahead(stream string, v jobspec.VideoOutput) []string {
	return []string{"-rc-lookahead" + stream, strconv.Itoa(ffmpeg.LookaheadFrames(v)), "-x264-params" + stream, "sync-lookahead=0"}
}

func packaging(o jobspec.Output, outURL, sets string) []string {
	return []string{"-f", "dash", "-seg_duration", strconv.FormatFloat(o.Segment_duration, 'f', -1, 64),
		"-window_size", "6", "-adaptation_sets", sets,
		"-method", "PUT", "-headers", "Authorization: Bearer " + token + "\r\n", outURL + "master.mpd"}
}

// perRenditionArgs is one ffmpeg per rendition, each decoding the input;
// the first also encodes the audio.
func perRenditionArgs(spec jobspec.Spec, input, outURL string) [][]string {
	o := spec.Output
	var all [][]string
	for i, v := range o.Video_outputs {
		g := strconv.Itoa(int(v.Gop_size * v.Framerate))
		args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-i", input,
			"-map", "0:v", "-vf", fmt.Sprintf("scale=%d:%d", v.Width, v.Height), "-c:v", ffmpeg.Encoder(v.Codec), "-preset", v.Preset,
			"-threads", strconv.Itoa(v.Threads), "-g", g, "-keyint_min", g, "-sc_threshold", "0",
			"-b:v", v.Bitrate, "-maxrate", v.Max_bitrate, "-bufsize", v.Buf_size}
		args = append(args, lookahead(":v", v)...)
		sets := "id=0,streams=v"
		if i == 0 {
			args = append(args, "-map", "0:a", "-c:a", "aac", "-b:a", o.Audio_outputs[0].Bitrate)
			sets += " id=1,streams=a"
		}
		all = append(all, append(args, packaging(o, fmt.Sprintf("%sr%d-", outURL, i), sets)...))
	}
	return all
}

// cpuOf runs the commands together and returns their user+system CPU time.
func cpuOf(cmds [][]string) time.Duration {
	procs := make([]*exec.Cmd, len(cmds))
	stderrs := make([]bytes.Buffer, len(cmds))
	for i, args := range cmds {
		procs[i] = exec.Command("ffmpeg", args...)
		procs[i].Stderr = &stderrs[i]
		check(procs[i].Start())
	}
	var total time.Duration
	for i, p := range procs {
		if err := p.Wait(); err != nil {
			log.Fatalf("ffmpeg %v: %v\n%s", p.Args, err, stderrs[i].Bytes())
		}
		total += p.ProcessState.UserTime() + p.ProcessState.SystemTime()
	}
	return total
}

func cpuComparison(spec jobspec.Spec, input string, org *benchOrigin) {
	variants := []struct {
		name string
		cmds func(run int) [][]string
	}{
		{"ezlive (ffmpeg.Args)", func(r int) [][]string {
			return [][]string{ezliveArgs(spec, input, org.jobURL(fmt.Sprintf("cpu-ezlive-%d", r)))}
		}},
		{"hand-written single ffmpeg", func(r int) [][]string {
			return [][]string{handArgs(spec, input, org.jobURL(fmt.Sprintf("cpu-hand-%d", r)))}
		}},
		{"one decode per rendition", func(r int) [][]string {
			return perRenditionArgs(spec, input, org.jobURL(fmt.Sprintf("cpu-split-%d", r)))
		}},
	}
	fmt.Printf("CPU seconds per media second (user+sys of the ffmpeg children, median of %d runs, file input, as fast as possible):\n", *runs)
	med := make([]float64, len(variants))
	// Interleave the variants so a busy neighbour hurts them alike.
	samples := make([][]float64, len(variants))
	for r := range *runs {
		for i, v := range variants {
			c := cpuOf(v.cmds(r)).Seconds() / float64(*seconds)
			samples[i] = append(samples[i], c)
			if *verbose {
				fmt.Printf("  run %d %-30s %.3f\n", r, v.name, c)
			}
		}
	}
	for i, v := range variants {
		med[i] = median(samples[i])
		fmt.Printf("  %-30s %.3f\n", v.name, med[i])
	}
	fmt.Printf("  ratio ezlive / hand-written         %.3f  (target <= 1.02)\n", med[0]/med[1])
	fmt.Printf("  ratio ezlive / one decode per rend. %.3f  (target clearly below 1)\n", med[0]/med[2])
	fmt.Println("commands:")
	fmt.Printf("  ezlive:       ffmpeg %s\n", shellQuote(variants[0].cmds(0)[0]))
	fmt.Printf("  hand-written: ffmpeg %s\n", shellQuote(variants[1].cmds(0)[0]))
	for _, c := range variants[2].cmds(0) {
		fmt.Printf("  per-rendition: ffmpeg %s\n", shellQuote(c))
	}
	fmt.Println()
}

type nopReporter struct{}

func (nopReporter) Report(context.Context, transcoder.Heartbeat) (transcoder.Reply, error) {
	return transcoder.Reply{}, nil
}

func transcoderConfig(job string, spec jobspec.Spec, addr string, org *benchOrigin) transcoder.Config {
	return transcoder.Config{
		JobID: job, Generation: 1, Spec: spec, StreamKey: "bench", ListenAddr: addr,
		OriginURL: org.jobURL(job), UploadToken: token, Reporter: nopReporter{},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	}
}

// run starts transcoder.Run and returns a stop function.
func run(cfg transcoder.Config) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- transcoder.Run(ctx, cfg) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			log.Fatalf("transcoder: %v", err)
		}
	}
}

func listenerReady(spec jobspec.Spec, org *benchOrigin) {
	n := max(5, *runs)
	var ms []float64
	for i := range n {
		addr := freeAddr()
		start := time.Now()
		stop := run(transcoderConfig(fmt.Sprintf("ready-%d", i), spec, addr, org))
		for !testenv.Listening(addr) {
			if time.Since(start) > 10*time.Second {
				log.Fatal("listener never ready")
			}
			time.Sleep(time.Millisecond)
		}
		ms = append(ms, float64(time.Since(start).Microseconds())/1000)
		stop()
	}
	fmt.Printf("transcoder.Run start -> RTMP listener ready: median %.0f ms of %d runs (min %.0f, max %.0f; target < 300 ms)\n",
		median(ms), n, slices.Min(ms), slices.Max(ms))
}

func firstSegment(mode string, spec jobspec.Spec, input string, org *benchOrigin) {
	segDur := spec.Output.Segment_duration
	var segs, manifests []float64
	for i := range *runs {
		job := fmt.Sprintf("latency-%t-%d", spec.Output.Low_latency_mode, i)
		addr := freeAddr()
		stop := run(transcoderConfig(job, spec, addr, org))
		for !testenv.Listening(addr) {
			time.Sleep(time.Millisecond)
		}
		// -c copy: the publisher adds no encoding delay; its first frame
		// leaves as soon as the RTMP handshake is done.
		pub := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-i", input,
			"-t", strconv.FormatFloat(2*segDur+1, 'f', -1, 64), "-c", "copy", "-f", "flv",
			"rtmp://"+addr+"/live/bench")
		start := time.Now()
		check(pub.Start())
		seg, manifest := waitVisible(org, job, start)
		_ = pub.Wait()
		stop()
		segs = append(segs, seg.Sub(start).Seconds())
		manifests = append(manifests, manifest.Sub(start).Seconds())
		if *verbose {
			fmt.Printf("  run %d: segment %.2f s, manifest %.2f s\n", i, segs[i], manifests[i])
		}
	}
	fmt.Printf("first published frame -> first media segment at the origin %s: median %.2f s (segment %.0f s, so %.2f s over; target < 1 s over)\n",
		mode, median(segs), segDur, median(segs)-segDur)
	fmt.Printf("first published frame -> manifest listing it at the origin %s: median %.2f s (%.2f s over)\n",
		mode, median(manifests), median(manifests)-segDur)
}

// waitVisible waits for the job's first media segment and the first
// manifest written after it (the one that lists it).
func waitVisible(org *benchOrigin, job string, start time.Time) (seg, manifest time.Time) {
	isSeg := func(n string) bool { return strings.HasSuffix(n, ".m4s") || strings.HasSuffix(n, ".ts") }
	isManifest := func(n string) bool { return strings.HasSuffix(n, ".mpd") || strings.HasSuffix(n, ".m3u8") }
	for time.Since(start) < time.Minute {
		if s, ok := org.firstWrite(job, start, isSeg); ok {
			if m, ok := org.firstWrite(job, s, isManifest); ok {
				return s, m
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	log.Fatal("no segment reached the origin")
	return
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer l.Close()
	return l.Addr().String()
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ffmpegVersion() string {
	out, err := exec.Command("ffmpeg", "-version").Output()
	if err != nil {
		log.Fatalf("ffmpeg: %v", err)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	f := strings.Fields(line)
	if len(f) >= 3 {
		return "ffmpeg " + f[2]
	}
	return line
}

func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, "\r\n") {
			r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\r", `\r`, "\n", `\n`)
			q[i] = "$'" + r.Replace(a) + "'"
			continue
		}
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,+%@", r))
		}) < 0 {
			q[i] = a
			continue
		}
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
