package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/url"
	"path"
	"slices"
	"sort"
)

// Where the time goes: each chunk (an LL-HLS part or LL-DASH CMAF chunk;
// a whole segment otherwise) of a file the player fetched is followed from
// the capture of its first frame to that frame's display, on the one
// machine clock, through the traces the system logs at debug level
// (`ezlive dev` and its transcoders with EZLIVE_LOG_LEVEL=debug and
// EZLIVE_LOG_FORMAT=json):
//
//	captured       testfeed "trace: frame captured" (frame's time code, FLV timestamp)
//	at gateway     ingest "trace: video frame relayed" (in: read from the publisher)
//	at transcoder  transcoder "trace: video frame to ffmpeg" (arrived from the gateway; timeline ts)
//	out of ffmpeg  transcoder "trace: chunk from ffmpeg" (the chunk's last byte reached the relay)
//	at origin      origin "trace: upload stored" (the chunk's last byte was in the origin's spool)
//	at player      glass.mjs requests (the chunk's last byte reached the page)
//	shown          glass.mjs shown (the frame with that time code was displayed)
//
// The chunk's first frame is found by its media time on the transcoder's
// timeline and confirmed by its time code: the browser must have shown a
// frame carrying exactly the capture time the feed logged for it.

// hops are one chunk's figures, in ms.
type hops struct {
	publisher, gateway, encoder, chunk, upload, wait, transfer, holdBack, total float64
}

// hopNames are the columns, in order, with what each one is.
var hopNames = []struct{ name, what string }{
	{"publisher", "captured → at the gateway: the test feed's x264 (ultrafast, zerolatency), FLV and RTMP on loopback"},
	{"gateway", "at the gateway → at the transcoder: the ingest gateway's relay"},
	{"encoder", "at the transcoder → out of ffmpeg, less the chunk: decode, scale, x264 lookahead and frame threads, muxer"},
	{"chunk", "the chunk's media duration: its first frame waits for its last"},
	{"upload", "out of ffmpeg → at the origin: the transcoder's relay and the PUT"},
	{"wait", "at the origin → asked for: the chunk waits for the player's request (its polling or blocking reload, or its distance from the live edge); 0 for a request made before"},
	{"transfer", "asked for, or at the origin if later → at the player: the response"},
	{"hold-back", "at the player → shown: the player's buffer"},
}

func (h hops) values() []float64 {
	return []float64{h.publisher, h.gateway, h.encoder, h.chunk, h.upload, h.wait, h.transfer, h.holdBack}
}

// trace is what the system logged about one job.
type trace struct {
	captured map[int64]int64    // FLV timestamp → capture time
	gateway  map[int64]int64    // FLV timestamp → at the gateway
	frames   []frameIn          // written to ffmpeg, in timeline order
	chunks   map[string][]chunk // video chunks by file name
	uploads  map[string][][2]int64
}

type frameIn struct {
	pubTS, ts, arrived int64
}

type chunk struct {
	offset, end             int64
	start, duration, sample float64 // media time, s; sample: a video frame
	at                      int64
}

// readTrace collects job's trace records from a JSON log.
func readTrace(r io.Reader, job string) (*trace, error) {
	t := &trace{captured: map[int64]int64{}, gateway: map[int64]int64{}, chunks: map[string][]chunk{}, uploads: map[string][][2]int64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var rec struct {
			Msg             string
			JobID           string `json:"job_id"`
			PubTS           *int64 `json:"pub_ts"`
			TS              int64
			CapturedMS      int64 `json:"captured_ms"`
			InMS            int64 `json:"in_ms"`
			ArrivedMS       int64 `json:"arrived_ms"`
			File, Path      string
			Video           bool
			Offset, End     int64
			Start, Duration float64
			Sample          float64
			AtMS            int64 `json:"at_ms"`
			Steps           [][2]int64
		}
		if json.Unmarshal(sc.Bytes(), &rec) != nil || rec.JobID != job {
			continue
		}
		switch rec.Msg {
		case "trace: frame captured":
			if rec.PubTS != nil {
				t.captured[*rec.PubTS] = rec.CapturedMS
			}
		case "trace: video frame relayed":
			t.gateway[rec.TS] = rec.InMS
		case "trace: video frame to ffmpeg":
			if rec.PubTS != nil {
				t.frames = append(t.frames, frameIn{pubTS: *rec.PubTS, ts: rec.TS, arrived: rec.ArrivedMS})
			}
		case "trace: chunk from ffmpeg":
			if rec.Video {
				t.chunks[rec.File] = append(t.chunks[rec.File], chunk{rec.Offset, rec.End, rec.Start, rec.Duration, rec.Sample, rec.AtMS})
			}
		case "trace: upload stored":
			t.uploads[path.Base(rec.Path)] = rec.Steps
		}
	}
	sort.Slice(t.frames, func(i, j int) bool { return t.frames[i].ts < t.frames[j].ts })
	return t, sc.Err()
}

// request is one media request of the player, as glass.mjs records it.
type request struct {
	URL   string
	From  int64
	Start int64
	Steps [][2]int64 // bytes received, at
}

// breakdown follows every chunk of every file the player fetched, and
// returns the figures of those whose first frame it showed.
func (t *trace) breakdown(shown [][2]int64, requests []request) []hops {
	shownAt := map[int64]int64{} // capture time → first display
	for _, s := range shown {
		if _, ok := shownAt[s[0]]; !ok {
			shownAt[s[0]] = s[1]
		}
	}
	var out []hops
	seen := map[string]bool{}
	for _, req := range requests {
		file := fileOf(req.URL)
		if seen[file] {
			continue
		}
		seen[file] = true
		for _, c := range t.chunks[file] {
			if h, ok := t.follow(c, file, shownAt, requests); ok {
				out = append(out, h)
			}
		}
	}
	return out
}

// follow is one chunk's way, if every step of it was seen.
func (t *trace) follow(c chunk, file string, shownAt map[int64]int64, requests []request) (hops, bool) {
	f, captured, shown, ok := t.firstFrame(c, shownAt)
	if !ok {
		return hops{}, false
	}
	atGateway, ok1 := t.gateway[f.pubTS]
	atOrigin, ok2 := reached(t.uploads[file], c.end)
	asked, atPlayer, ok3 := playerHad(requests, file, c)
	if !ok1 || !ok2 || !ok3 {
		return hops{}, false
	}
	d := c.duration * 1000
	return hops{
		publisher: float64(atGateway - captured),
		gateway:   float64(f.arrived - atGateway),
		encoder:   float64(c.at-f.arrived) - d,
		chunk:     d,
		upload:    float64(atOrigin - c.at),
		wait:      float64(max(0, asked-atOrigin)),
		transfer:  float64(atPlayer - max(asked, atOrigin)),
		holdBack:  float64(shown - atPlayer),
		total:     float64(shown - captured),
	}, true
}

// firstFrame finds the input frame that is the chunk's first, as ffmpeg's
// fps filter chose it: of the input frames whose timestamps round to the
// chunk's first output frame or an earlier one, the last. The player must
// have shown its time code.
func (t *trace) firstFrame(c chunk, shownAt map[int64]int64) (f frameIn, captured, shown int64, ok bool) {
	i, ok := t.input(c)
	if !ok {
		return frameIn{}, 0, 0, false
	}
	f = t.frames[i]
	if captured, ok = t.captured[f.pubTS]; !ok {
		return frameIn{}, 0, 0, false
	}
	if shown, ok = shownAt[captured]; !ok {
		return frameIn{}, 0, 0, false
	}
	return f, captured, shown, true
}

// input is the index in frames of the chunk's first frame (see firstFrame).
func (t *trace) input(c chunk) (int, bool) {
	if c.sample <= 0 {
		return 0, false
	}
	slot := func(ms int64) float64 { return math.Round(float64(ms) / 1000 / c.sample) }
	first := math.Round(c.start / c.sample)
	i := sort.Search(len(t.frames), func(i int) bool { return slot(t.frames[i].ts) > first }) - 1
	if i < 0 || slot(t.frames[i].ts) < first-1 {
		return 0, false // no input frame near it
	}
	return i, true
}

// reached is when a sequence of [bytes, at] steps first reached end bytes.
func reached(steps [][2]int64, end int64) (int64, bool) {
	for _, s := range steps {
		if s[0] >= end {
			return s[1], true
		}
	}
	return 0, false
}

// playerHad is when the player first had all of chunk c of file, and when
// it had asked for it: from a request for file that starts at or before
// the chunk and reached its end.
func playerHad(requests []request, file string, c chunk) (asked, at int64, ok bool) {
	for _, r := range requests {
		if r.From > c.offset || fileOf(r.URL) != file {
			continue
		}
		if t, got := reached(r.Steps, c.end-r.From); got && (!ok || t < at) {
			asked, at, ok = r.Start, t, true
		}
	}
	return asked, at, ok
}

func fileOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return path.Base(u.Path)
}

// medians is the median of each hop and of the total over hs.
func medians(hs []hops) (hop []float64, total float64) {
	hop = make([]float64, len(hopNames))
	for i := range hop {
		var xs []float64
		for _, h := range hs {
			xs = append(xs, h.values()[i])
		}
		hop[i] = median(xs)
	}
	var totals []float64
	for _, h := range hs {
		totals = append(totals, h.total)
	}
	return hop, median(totals)
}

// means is the mean of each hop and of the total over hs: unlike the
// medians, they add up.
func means(hs []hops) (hop []float64, total float64) {
	hop = make([]float64, len(hopNames))
	for _, h := range hs {
		for i, v := range h.values() {
			hop[i] += v / float64(len(hs))
		}
		total += h.total / float64(len(hs))
	}
	return hop, total
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// startup is what the first chunk of the run took in ffmpeg beyond the
// steady state's encoder hop, ms: the input probe, once per start. The
// run's first chunk is the earliest, and starts with its first frame.
func (t *trace) startup(encoder float64) (float64, bool) {
	var first *chunk
	for _, cs := range t.chunks {
		for i := range cs {
			if first == nil || cs[i].start < first.start {
				first = &cs[i]
			}
		}
	}
	if first == nil {
		return 0, false
	}
	i, ok := t.input(*first)
	if !ok || i != 0 {
		return 0, false
	}
	return float64(first.at-t.frames[0].arrived) - first.duration*1000 - encoder, true
}

// printHops prints the where-the-time-goes table of results.
func printHops(all []result) {
	fmt.Println()
	fmt.Println("where the time goes (ms, medians over the chunks whose first frame was shown; each hop a difference of two logged times of that frame or its chunk):")
	fmt.Printf("%-18s %-12s", "format", "player")
	for _, h := range hopNames {
		fmt.Printf(" %9s", h.name)
	}
	fmt.Printf(" %7s %7s %8s %7s %7s %7s\n", "sum", "glass", "residual", "traced", "chunks", "probe")
	for _, r := range all {
		fmt.Printf("%-18s %-12s", r.Name, r.Label)
		if r.NotTraced != "" {
			fmt.Printf(" not measured: %s\n", r.NotTraced)
			continue
		}
		hop, total := medians(r.Hops)
		sum := 0.0
		for _, v := range hop {
			fmt.Printf(" %9.0f", v)
			sum += v
		}
		probe := "-"
		if r.Probe != nil {
			probe = fmt.Sprintf("%.0f", *r.Probe)
		}
		glass := r.Median * 1000
		fmt.Printf(" %7.0f %7.0f %8.0f %7.0f %7d %7s\n", sum, glass, glass-sum, total, len(r.Hops), probe)
		fmt.Printf("%-18s %-12s", "", "  mean")
		hop, total = means(r.Hops)
		for _, v := range hop {
			fmt.Printf(" %9.0f", v)
		}
		fmt.Printf(" %7.0f\n", total)
	}
	for _, h := range hopNames {
		fmt.Printf("  %-10s %s\n", h.name+":", h.what)
	}
	fmt.Println("  sum: of the medians; glass: the glass-to-glass median of all frames; residual: glass - sum;")
	fmt.Println("  traced: the median glass to glass of the traced chunks' first frames (shown - captured); chunks: how many were traced;")
	fmt.Println("  mean: the hops' means, which add up to the traced chunks' mean (medians need not, where hops trade off)")
	fmt.Println("  probe: once per start, not in the sum: the run's first chunk's encoder hop less the median one (ffmpeg probing its input, then catching up)")
}
