// Command latency measures live latency glass to glass (issue 18): the test
// feed burns the wall clock into every frame (testfeed/timecode.go), and
// Chromium reads it back from every frame it presents (web/glass.mjs) and
// subtracts it from the frame's display time, on the same machine's clock.
// Per format and player it prints the median, 10th and 90th percentile, the
// frames whose code did not read, stalls, and next to it the player's own
// estimate and the buffer it holds ahead of the playhead.
//
// Formats, one job at a time on the sample ladder (web/static/sample_live_job.json):
// low-latency HLS and low-latency DASH (1 s segments), DASH with the sample's
// 4 s segments; and as the baseline, the same feed through a bare ffmpeg
// writing HLS of 1 s segments (no platform code), served from a directory.
// Players: Shaka Player, hls.js (HLS), dash.js (DASH), on bare pages
// (web/players.mjs), each as configured for the demo page and tests and,
// for some, with a lever to compare in the same run (without catching up
// by playing faster). Without -url it starts its own system (a private
// redis-server and `ezlive dev` on free loopback ports, logging its
// latency trace) and stops it afterwards, and then also prints where the
// time goes (hops.go). It prints figures and asserts nothing;
// web/test/latency.test.mjs checks that each player plays at the live edge.
//
// With -seconds of 120 or more it also prints whether each player's latency
// stays low: the median of its last minute against its first, and its
// stalls (issue 18: within 0.3 s after 10 minutes, no stall).
//
//	go run ./bench/latency [-ezlive bin/ezlive] [-url http://127.0.0.1:1080] [-seconds 20] [-renditions 1]
//	    [-formats baseline,llhls,lldash,dash] [-players shaka,hls.js,dash.js] [-log dev.log]
//	go run ./bench/latency -formats llhls,lldash -players shaka,hls.js,dash.js -seconds 600 -renditions 1
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ezlivestreaming/ezlive/client"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/testfeed"
)

// format is one way of streaming the feed, and the players that play it.
type format struct {
	key        string // for -formats
	name       string
	stream     string // Stream_type
	segment    int    // seconds
	lowLatency bool
	players    []player
}

// player is a player of web/players.mjs, with more of its configuration:
// a lever measured side by side with the player as the page configures it.
type player struct {
	label, name string
	config      map[string]any
}

var (
	shaka  = player{"shaka", "shaka", nil}
	hlsJS  = player{"hls.js", "hls.js", nil}
	dashJS = player{"dash.js", "dash.js", nil}
	// In low-latency mode Shaka and hls.js catch up with the live edge
	// (web/static/livesync.js); the lever, side by side: without.
	hlsJSNoCatchUp = player{"hls.js 1×", "hls.js", map[string]any{"maxLiveSyncPlaybackRate": 1}}
	shakaNoSync    = player{"shaka no sync", "shaka", map[string]any{"streaming": map[string]any{"liveSync": map[string]any{"enabled": false}}}}
)

var formats = []format{
	{"llhls", "low-latency HLS", "hls", 1, true, []player{shaka, shakaNoSync, hlsJS, hlsJSNoCatchUp}},
	{"lldash", "low-latency DASH", "dash", 1, true, []player{shaka, shakaNoSync, dashJS}},
	{"dash", "DASH", "dash", 4, false, []player{shaka, dashJS}},
}

// baseline is the bare ffmpeg HLS output.
var baseline = format{"baseline", "bare ffmpeg HLS", "hls", 1, false, []player{hlsJS, shaka}}

// result is one case's figures, as web/glass.mjs writes them (seconds).
type result struct {
	Name, Label      string
	Error            string
	Median, P10, P90 float64
	Frames, Failures int
	Stalls           int
	Estimate         *float64 // none when the player has none
	Ahead            float64
	Width, Height    int
	Shown            [][2]int64 // [captured, shown] of each frame, Unix ms
	Requests         []request
	Load             string `json:"-"`

	Hops      []hops   `json:"-"` // of each traced chunk
	Probe     *float64 `json:"-"` // ms
	NotTraced string   `json:"-"` // why Hops is empty
}

type glassCase struct {
	Name       string         `json:"name"`
	Label      string         `json:"label"`
	Player     string         `json:"player"`
	Config     map[string]any `json:"config,omitempty"`
	URL        string         `json:"url"`
	LowLatency bool           `json:"lowLatency"`
}

func main() {
	bin := flag.String("ezlive", "bin/ezlive", "ezlive binary to start the system with (`make build`)")
	url := flag.String("url", "", "API base URL of a running system with test feeds (default: start one)")
	seconds := flag.Int("seconds", 20, "seconds measured per player, after 5 s of play")
	renditions := flag.Int("renditions", 0, "video renditions of the sample ladder to keep, smallest first (default all); 1 where the machine cannot encode the whole ladder in real time")
	logPath := flag.String("log", "", "write the system's log (JSON, with its latency trace) to this file and keep it (default: a temporary file)")
	only := flag.String("formats", "baseline,llhls,lldash,dash", "formats to measure, comma-separated: baseline (bare ffmpeg HLS), llhls, lldash, dash")
	players := flag.String("players", "", "players to measure, comma-separated labels (shaka, shaka no sync, hls.js, hls.js 1×, dash.js; default all)")
	flag.Parse()
	chosen := map[string]bool{}
	known := append(slices.Clone(formats), baseline)
	for _, k := range strings.Split(*only, ",") {
		if !slices.ContainsFunc(known, func(f format) bool { return f.key == k }) {
			fmt.Fprintf(os.Stderr, "bench/latency: -formats: unknown format %q\n", k)
			os.Exit(2)
		}
		chosen[k] = true
	}
	if *players != "" {
		if err := keepPlayers(strings.Split(*players, ",")); err != nil {
			fmt.Fprintln(os.Stderr, "bench/latency: -players:", err)
			os.Exit(2)
		}
	}
	if err := run(*bin, *url, *logPath, *seconds, *renditions, chosen); err != nil {
		fmt.Fprintln(os.Stderr, "bench/latency:", err)
		os.Exit(1)
	}
}

// keepPlayers keeps, of every format, the players labelled one of labels.
func keepPlayers(labels []string) error {
	all := append(slices.Clone(formats), baseline)
	for _, l := range labels {
		if !slices.ContainsFunc(all, func(f format) bool {
			return slices.ContainsFunc(f.players, func(p player) bool { return p.label == l })
		}) {
			return fmt.Errorf("unknown player %q", l)
		}
	}
	keep := func(f *format) {
		f.players = slices.DeleteFunc(f.players, func(p player) bool { return !slices.Contains(labels, p.label) })
	}
	for i := range formats {
		keep(&formats[i])
	}
	keep(&baseline)
	return nil
}

func run(bin, url, logPath string, seconds, renditions int, chosen map[string]bool) error {
	dir, err := os.MkdirTemp("", "ezlive-bench-latency-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	g := glass{dir: dir, seconds: seconds, renditions: renditions}
	if url == "" {
		if logPath == "" {
			logPath = filepath.Join(dir, "dev.log")
		}
		stop, apiURL, err := startSystem(bin, dir, logPath)
		if err != nil {
			return err
		}
		defer stop()
		url, g.log = apiURL, logPath
	}
	fmt.Printf("glass-to-glass latency in Chromium: %d s of presented frames per player after 5 s of play; 2 shared cores, so figures are noisy: read medians\n", seconds)
	var all []result
	if chosen[baseline.key] {
		rs, err := g.bare(baseline)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench/latency: baseline:", err)
		}
		for i := range rs {
			rs[i].NotTraced = "bare ffmpeg: no platform code logs a trace"
		}
		all = append(all, rs...)
	}
	api := client.New(url, "")
	for _, f := range formats {
		if !chosen[f.key] {
			continue
		}
		rs, err := g.job(api, f)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench/latency: %s: %v\n", f.name, err)
		}
		all = append(all, rs...)
	}
	printTable(all)
	if seconds >= 2*60 {
		printDrift(all)
	}
	printHops(all)
	return nil
}

// printDrift prints, per player, the median glass-to-glass latency of the
// first and of the last minute of presented frames, and whether it stayed
// low: the last within 0.3 s of the first, and no stall.
func printDrift(all []result) {
	fmt.Printf("\nstays low? median of the first and last minute of presented frames, stalls over the whole run\n")
	fmt.Printf("%-18s %-12s %8s %8s %7s %6s  %s\n", "format", "player", "minute 1", "last", "drift", "stalls", "within 0.3 s, no stall")
	for _, r := range all {
		first, last, ok := firstAndLastMinute(r.Shown)
		if r.Error != "" || !ok {
			continue
		}
		drift := last - first
		fmt.Printf("%-18s %-12s %7.2fs %7.2fs %+6.2fs %6d  %s\n", r.Name, r.Label, first, last, drift, r.Stalls,
			yesNo(math.Abs(drift) <= 0.3 && r.Stalls == 0))
	}
}

// firstAndLastMinute is the median latency, in seconds, of the frames
// shown in the first minute after the first and in the minute before the
// last; ok is false for less than two minutes of frames.
func firstAndLastMinute(shown [][2]int64) (first, last float64, ok bool) {
	if len(shown) == 0 || shown[len(shown)-1][1]-shown[0][1] < 2*60_000 {
		return 0, 0, false
	}
	start, end := shown[0][1], shown[len(shown)-1][1]
	var a, b []float64
	for _, f := range shown {
		latency := float64(f[1]-f[0]) / 1000
		switch {
		case f[1] < start+60_000:
			a = append(a, latency)
		case f[1] > end-60_000:
			b = append(b, latency)
		}
	}
	return median(a), median(b), true
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func printTable(all []result) {
	fmt.Printf("%-18s %-12s %7s %6s %6s %7s %8s %6s %9s %7s %9s  %s\n",
		"format", "player", "median", "p10", "p90", "frames", "no code", "stalls", "estimate", "ahead", "picture", "load average")
	for _, r := range all {
		if r.Error != "" {
			fmt.Printf("%-18s %-12s did not play: %s  (%s)\n", r.Name, r.Label, r.Error, r.Load)
			continue
		}
		estimate := "-"
		if r.Estimate != nil {
			estimate = fmt.Sprintf("%.2fs", *r.Estimate)
		}
		fmt.Printf("%-18s %-12s %6.2fs %5.2fs %5.2fs %7d %8d %6d %9s %6.2fs %9s  %s\n",
			r.Name, r.Label, r.Median, r.P10, r.P90, r.Frames, r.Failures, r.Stalls, estimate, r.Ahead,
			fmt.Sprintf("%dx%d", r.Width, r.Height), r.Load)
	}
	fmt.Println("estimate: the player's own (Shaka liveLatency, hls.js wall clock - playingDate or else hls.latency, dash.js getCurrentLiveLatency); ahead: buffered beyond the playhead")
}

// glass runs web/glass.mjs.
type glass struct {
	dir        string
	seconds    int
	renditions int    // of the sample ladder, 0 for all
	log        string // the system's JSON log with its latency trace; "" with -url
}

// play measures url in each of f's players.
func (g glass) play(f format, url string) ([]result, error) {
	var cases []glassCase
	for _, p := range f.players {
		cases = append(cases, glassCase{Name: f.name, Label: p.label, Player: p.name, Config: p.config, URL: url, LowLatency: f.lowLatency})
	}
	in, out := filepath.Join(g.dir, "cases.json"), filepath.Join(g.dir, "glass.json")
	b, err := json.Marshal(map[string]any{"layout": testfeed.Layout(), "settleSeconds": 5, "seconds": g.seconds, "cases": cases})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(in, b, 0o600); err != nil {
		return nil, err
	}
	load := loadAverage()
	cmd := exec.Command("node", "glass.mjs", in, out)
	cmd.Dir = "web"
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	runErr := cmd.Run()
	b, err = os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("no figures (node: %v): %w", runErr, err)
	}
	var rs []result
	if err := json.Unmarshal(b, &rs); err != nil {
		return nil, fmt.Errorf("read figures: %w", err)
	}
	for i := range rs {
		rs[i].Load = load + " → " + loadAverage()
	}
	return rs, nil
}

// job streams the feed as f through the platform and measures it.
func (g glass) job(api *client.Client, f format) ([]result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	spec, err := sampleSpec(f, g.renditions)
	if err != nil {
		return nil, err
	}
	job, err := api.Create(ctx, spec, false)
	if err != nil {
		return nil, err
	}
	defer cleanUp(api, job.Id)
	if _, err := untilState(ctx, api, job.Id, jobspec.StateRunning, jobspec.StateStreaming); err != nil {
		return nil, err
	}
	if err := api.StartFeed(ctx, job.Id); err != nil {
		return nil, err
	}
	job, err = untilState(ctx, api, job.Id, jobspec.StateStreaming)
	if err != nil {
		return nil, err
	}
	rs, err := g.play(f, job.Playback_url)
	if err != nil {
		return rs, err
	}
	g.traceHops(job.Id, rs)
	return rs, nil
}

// traceHops reads job's trace from the system's log and follows the
// chunks each player fetched (hops.go).
func (g glass) traceHops(job string, rs []result) {
	why := "no trace: the system was not started by this command (-url)"
	var t *trace
	if g.log != "" {
		f, err := os.Open(g.log)
		if err == nil {
			t, err = readTrace(f, job)
			f.Close()
		}
		if err != nil {
			why, t = "trace unreadable: "+err.Error(), nil
		}
	}
	for i := range rs {
		r := &rs[i]
		switch {
		case t == nil:
			r.NotTraced = why
		case r.Error != "":
			r.NotTraced = "did not play"
		default:
			r.Hops = t.breakdown(r.Shown, r.Requests)
			if len(r.Hops) == 0 {
				r.NotTraced = fmt.Sprintf("no chunk followed from capture to display (%d frames shown, %d requests, %d traced frames in, %d files out)",
					len(r.Shown), len(r.Requests), len(t.frames), len(t.chunks))
				continue
			}
			hop, _ := medians(r.Hops)
			if p, ok := t.startup(hop[2]); ok {
				r.Probe = &p
			}
		}
	}
}

// sampleSpec is the demo page's sample job with f's stream type, segments
// and mode (and keyframes no further apart than a segment), and its first
// renditions video renditions if renditions > 0.
func sampleSpec(f format, renditions int) ([]byte, error) {
	b, err := os.ReadFile("web/static/sample_live_job.json")
	if err != nil {
		return nil, err
	}
	var spec map[string]map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, fmt.Errorf("sample job: %w", err)
	}
	spec["Output"]["Stream_type"] = f.stream
	spec["Output"]["Segment_duration"] = f.segment
	spec["Output"]["Low_latency_mode"] = f.lowLatency
	outputs, _ := spec["Output"]["Video_outputs"].([]any)
	if renditions > 0 && renditions < len(outputs) {
		outputs = outputs[:renditions]
		spec["Output"]["Video_outputs"] = outputs
	}
	for _, o := range outputs {
		if o, ok := o.(map[string]any); ok {
			o["Gop_size"] = min(f.segment, 2) // a keyframe starts every segment
		}
	}
	return json.Marshal(spec)
}

func untilState(ctx context.Context, api *client.Client, id string, states ...jobspec.State) (*jobspec.LiveJob, error) {
	for {
		job, err := api.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		for _, s := range states {
			if job.State == s {
				return job, nil
			}
		}
		if job.State == jobspec.StateFailed {
			return nil, fmt.Errorf("job %s failed: %s", id, job.State_reason)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("job %s is %s: %w", id, job.State, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// cleanUp stops the job's feed and the job and deletes it.
func cleanUp(api *client.Client, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = api.StopFeed(ctx, id)
	_, _ = api.Stop(ctx, id)
	_, _ = untilState(ctx, api, id, jobspec.StateStopped, jobspec.StateFailed)
	_, _ = api.Delete(ctx, id)
}

// bare streams the feed through ffmpeg alone: the test feed publishes to an
// ffmpeg listening for RTMP that encodes the sample ladder's smallest
// rendition (640x360, 25 fps, 365 kbit/s, x264 faster) and writes HLS of
// f.segment s segments, served from a directory.
func (g glass) bare(f format) ([]result, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	out := filepath.Join(g.dir, "bare")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	gop := fmt.Sprint(25 * f.segment)
	ingest := fmt.Sprintf("rtmp://127.0.0.1:%d/live/bare", ports[0])
	encoder := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-listen", "1", "-i", ingest,
		"-map", "0:v", "-map", "0:a", "-vf", "scale=640:360", "-r", "25",
		"-c:v", "libx264", "-preset", "faster", "-b:v", "365k", "-maxrate", "500k", "-bufsize", "500k",
		"-g", gop, "-keyint_min", gop, "-sc_threshold", "0", "-c:a", "aac", "-b:a", "128k",
		"-f", "hls", "-hls_time", fmt.Sprint(f.segment), "-hls_list_size", "6", "-hls_flags", "delete_segments+independent_segments",
		filepath.Join(out, "index.m3u8"))
	publisher := exec.Command("ffmpeg", testfeed.Args(ingest)...)
	for _, c := range []*exec.Cmd{encoder, publisher} {
		c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		c.Stderr = os.Stderr
	}
	if err := encoder.Start(); err != nil {
		return nil, err
	}
	defer stopProcess(encoder)
	time.Sleep(time.Second) // until it listens: a probe connection would be taken for the publisher
	if err := publisher.Start(); err != nil {
		return nil, err
	}
	defer stopProcess(publisher)
	srv := &http.Server{Addr: fmt.Sprintf("127.0.0.1:%d", ports[1]), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*") // the bare pages are about:blank
		w.Header().Set("Cache-Control", "no-cache")
		http.FileServer(http.Dir(out)).ServeHTTP(w, r)
	})}
	go func() { _ = srv.ListenAndServe() }()
	defer srv.Close()
	url := "http://" + srv.Addr + "/index.m3u8"
	if err := untilUp(url, 60*time.Second); err != nil {
		return nil, fmt.Errorf("bare ffmpeg wrote no playlist: %w", err)
	}
	time.Sleep(time.Duration(3*f.segment) * time.Second) // three segments, as a player wants
	return g.play(f, url)
}

func stopProcess(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(os.Interrupt)
	waitOrKill(cmd, 5*time.Second)
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:1], " ")
}

// startSystem starts redis-server and `ezlive dev` on free loopback ports
// and returns a function stopping both.
func startSystem(bin, dir, logPath string) (stop func(), apiURL string, err error) {
	ports, err := freePorts(4)
	if err != nil {
		return nil, "", err
	}
	redisAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	redis := exec.Command("redis-server", "--port", fmt.Sprint(ports[0]), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	redis.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := redis.Start(); err != nil {
		return nil, "", fmt.Errorf("start redis-server: %w", err)
	}
	if err := untilListening(redisAddr, 10*time.Second); err != nil { // ezlive dev gives up at once
		_ = redis.Process.Kill()
		_ = redis.Wait()
		return nil, "", fmt.Errorf("redis-server: %w", err)
	}
	log, err := os.Create(logPath)
	if err != nil {
		return nil, "", err
	}
	apiAddr := fmt.Sprintf("127.0.0.1:%d", ports[1])
	// Debug level in JSON, for the latency trace; the transcoders take
	// the level and format from the environment.
	dev := exec.Command(bin, "dev", "-redis", redisAddr, "-listen", apiAddr,
		"-origin-listen", fmt.Sprintf("127.0.0.1:%d", ports[2]), "-ingest-listen", fmt.Sprintf("127.0.0.1:%d", ports[3]),
		"-ingest-srt-listen", "", "-data", filepath.Join(dir, "data"))
	dev.Env = append(os.Environ(), "EZLIVE_LOG_LEVEL=debug", "EZLIVE_LOG_FORMAT=json")
	dev.Stdout, dev.Stderr = log, log
	dev.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := dev.Start(); err != nil {
		_ = redis.Process.Kill()
		_ = redis.Wait()
		return nil, "", fmt.Errorf("start %s dev: %w", bin, err)
	}
	stop = func() {
		_ = dev.Process.Signal(os.Interrupt)
		waitOrKill(dev, 20*time.Second)
		_ = redis.Process.Kill()
		_ = redis.Wait()
		log.Close()
	}
	apiURL = "http://" + apiAddr
	if err := untilUp(apiURL+"/jobs", 30*time.Second); err != nil {
		stop()
		return nil, "", fmt.Errorf("ezlive dev did not come up (log %s): %w", log.Name(), err)
	}
	return stop, apiURL, nil
}

func waitOrKill(cmd *exec.Cmd, grace time.Duration) {
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

func untilUp(url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// untilListening waits until addr takes TCP connections.
func untilListening(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freePorts asks the kernel for n free loopback ports.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
