package transcoder

import (
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/internal/testenv"
	"github.com/ezlivestreaming/ezlive/jobspec"
)

// BenchmarkInputLoss measures, per iteration, with the sample ladder's two
// renditions in 1 s HLS segments:
//   - lost→slate: from the publisher's end to the first segment at the
//     origin that ends on the slate (an upper bound for the first slate
//     frame: the segment's last frame is checked);
//   - back→live: from the publisher's new start to the first segment at the
//     origin that ends on its picture;
//   - the ffmpeg's CPU (user+system, in cores) over 4 s of slate, divided by
//     its CPU over 4 s of the live picture: slate/live.
//
// Medians over the iterations:
//
//	go test -run '^$' -bench InputLoss -benchtime 3x ./transcoder/
func BenchmarkInputLoss(b *testing.B) {
	spec := mustValid(withWindow(jobspec.Spec{Output: jobspec.Output{
		Stream_type: "hls", Segment_format: "fmp4", Segment_duration: 1,
		Video_outputs: []jobspec.VideoOutput{
			{Label: "low", Codec: "h264", Framerate: 25, Width: 640, Height: 360, Bitrate: "365k", Max_bitrate: "500k", Buf_size: "500k", Preset: "faster", Threads: 2, Gop_size: 1},
			{Label: "mid", Codec: "h264", Framerate: 25, Width: 768, Height: 432, Bitrate: "550k", Max_bitrate: "750k", Buf_size: "750k", Preset: "faster", Threads: 2, Gop_size: 1},
		},
		Audio_outputs: []jobspec.AudioOutput{{Label: "audio128k", Codec: "aac", Bitrate: "128k"}},
	}}, 60))
	var toSlate, toLive, cpuRatio []float64
	for range b.N {
		ls, ll, ratio := inputLossOnce(b, spec)
		toSlate, toLive, cpuRatio = append(toSlate, ls), append(toLive, ll), append(cpuRatio, ratio)
	}
	b.ReportMetric(median(toSlate), "s-lost→slate")
	b.ReportMetric(median(toLive), "s-back→live")
	b.ReportMetric(median(cpuRatio), "slate/live-cpu")
	b.ReportMetric(0, "ns/op")
}

func inputLossOnce(b *testing.B, spec jobspec.Spec) (toSlate, toLive, cpuRatio float64) {
	j := startJob(b, "bench", spec)
	j.origin.keepAll.Store(true)
	defer j.stop(b)
	pub := publisher(j.ingestURL(), 3600, "1280x720")
	if err := pub.Start(); err != nil {
		b.Fatal(err)
	}
	testenv.WaitFor(b, 30*time.Second, "streaming", func() bool { return j.rep.last().State == StateStreaming })
	time.Sleep(2 * time.Second)
	ff := ffmpegOfPeriod(b, j, 0)
	live := cpuOver(b, ff, 4*time.Second)

	seen := len(j.origin.published("low-"))
	lost := time.Now()
	_ = pub.Process.Kill()
	_ = pub.Wait()
	toSlate = untilSegment(b, j, &seen, true).Sub(lost).Seconds()
	time.Sleep(time.Second)
	slate := cpuOver(b, ff, 4*time.Second)

	pub = publisher(j.ingestURL(), 3600, "1280x720")
	seen = len(j.origin.published("low-"))
	back := time.Now()
	if err := pub.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = pub.Process.Kill(); _ = pub.Wait() }()
	toLive = untilSegment(b, j, &seen, false).Sub(back).Seconds()
	return toSlate, toLive, slate / live
}

// untilSegment waits for the first new segment of the low rendition whose
// last frame is (slate) or is not the slate, and returns when it reached
// the origin.
func untilSegment(b *testing.B, j *job, seen *int, slate bool) time.Time {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		puts, _, _ := j.origin.snapshot()
		var segs []put
		for _, p := range puts {
			if strings.HasPrefix(p.name, "low-") && isMediaSegment(p.name) {
				segs = append(segs, p)
			}
		}
		for ; *seen < len(segs); *seen++ {
			p := segs[*seen]
			if isSlate(averageRGB(b, decodable(b, j, p.name))) == slate {
				return p.at
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatalf("no segment ending on the %s within 30 s", map[bool]string{true: "slate", false: "live picture"}[slate])
	return time.Time{}
}

// cpuOver is pid's CPU use over d, in cores.
func cpuOver(b *testing.B, pid int, d time.Duration) float64 {
	before := cpuTicks(b, pid)
	time.Sleep(d)
	return float64(cpuTicks(b, pid)-before) / 100 / d.Seconds() // USER_HZ is 100 on Linux
}

func cpuTicks(b *testing.B, pid int) int64 {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	user, _ := strconv.ParseInt(f[11], 10, 64)
	sys, _ := strconv.ParseInt(f[12], 10, 64)
	return user + sys
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	sort.Float64s(s)
	return s[len(s)/2]
}
