package drm

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/Eyevinn/mp4ff/mp4"
	"github.com/ezlivestreaming/ezlive/jobspec"
)

// BenchmarkEncryptSampleLadder measures what encryption on upload costs for
// the sample ladder (jobspec/testdata/sample_live_job.json: 640x360 365k +
// 768x432 550k h264 "faster", AAC 128k, 4 s segments), on segments ffmpeg
// encodes with those settings, and reports it against the ladder's encode
// cost (jobspec.EstimateCost, calibrated on this machine's measurement):
//
//	ns/byte         encryption time per output byte
//	core/(Mbit/s)   CPU-seconds per media-second for each Mbit/s of output
//	%encode         the ladder's encryption CPU as a share of its encode CPU
func BenchmarkEncryptSampleLadder(b *testing.B) {
	raw, err := os.ReadFile("../jobspec/testdata/sample_live_job.json")
	if err != nil {
		b.Fatal(err)
	}
	spec, _, err := jobspec.Parse(raw)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	tracks := ladderSegments(b, spec, dir)
	var ladderBits float64 // bits per media-second the ladder uploads
	for _, tr := range tracks {
		ladderBits += tr.bitrate
	}
	encodeCores := jobspec.EstimateCost(spec).CPU
	for _, scheme := range []string{"cenc", "cbcs"} {
		b.Run(scheme, func(b *testing.B) {
			k := &JobKey{Scheme: scheme}
			k.Key[0], k.IV[0] = 1, 2
			var segs [][]byte
			var ipds []*mp4.InitProtectData
			var total int64
			for _, tr := range tracks {
				_, ipd, err := EncryptInit(tr.init, k)
				if err != nil {
					b.Fatal(err)
				}
				segs = append(segs, tr.media)
				ipds = append(ipds, ipd)
				total += int64(len(tr.media))
			}
			b.SetBytes(total)
			b.ResetTimer()
			for range b.N {
				for i, seg := range segs {
					if _, err := EncryptMedia(seg, k, ipds[i]); err != nil {
						b.Fatal(err)
					}
				}
			}
			nsPerByte := float64(b.Elapsed().Nanoseconds()) / float64(int64(b.N)*total)
			corePerMbps := nsPerByte * 1e-9 * 1e6 / 8
			b.ReportMetric(nsPerByte, "ns/byte")
			b.ReportMetric(corePerMbps, "core/(Mbit/s)")
			b.ReportMetric(100*corePerMbps*ladderBits/1e6/encodeCores, "%encode")
		})
	}
}

// ladderTrack is one rendition's init and one media segment, with the
// bitrate its segment really has.
type ladderTrack struct {
	init, media []byte
	bitrate     float64 // bits per media-second
}

// ladderSegments encodes one 4 s segment per rendition of spec's ladder (and
// the audio) with the ladder's own settings, as the dash muxer writes them.
func ladderSegments(b *testing.B, spec jobspec.Spec, dir string) []ladderTrack {
	b.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		b.Skip("ffmpeg not installed")
	}
	o := spec.Output
	args := []string{"-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=s=768x432:r=25:d=4",
		"-f", "lavfi", "-i", "sine=d=4"}
	for i, v := range o.Video_outputs {
		args = append(args, "-map", "0:v",
			fmt.Sprintf("-s:v:%d", i), fmt.Sprintf("%dx%d", v.Width, v.Height),
			fmt.Sprintf("-c:v:%d", i), "libx264", fmt.Sprintf("-preset:v:%d", i), v.Preset,
			fmt.Sprintf("-b:v:%d", i), v.Bitrate, fmt.Sprintf("-maxrate:v:%d", i), v.Max_bitrate,
			fmt.Sprintf("-bufsize:v:%d", i), v.Buf_size, fmt.Sprintf("-g:v:%d", i), "50")
	}
	args = append(args, "-map", "1:a", "-c:a", "aac", "-b:a", o.Audio_outputs[0].Bitrate,
		"-f", "dash", "-seg_duration", "4", "-dash_segment_type", "mp4",
		"-init_seg_name", "init-$RepresentationID$.mp4", "-media_seg_name", "chunk-$RepresentationID$-$Number$.m4s",
		filepath.Join(dir, "master.mpd"))
	if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		b.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	var tracks []ladderTrack
	for rep := range len(o.Video_outputs) + 1 {
		tr := ladderTrack{
			init:  readFile(b, filepath.Join(dir, fmt.Sprintf("init-%d.mp4", rep))),
			media: readFile(b, filepath.Join(dir, fmt.Sprintf("chunk-%d-1.m4s", rep))),
		}
		tr.bitrate = float64(len(tr.media)*8) / 4
		tracks = append(tracks, tr)
	}
	return tracks
}
