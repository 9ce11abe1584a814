package llhls

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkRender renders an LL-HLS media playlist as the packager does on
// every part: with the default live window, and with a four-hour DVR window
// of 1 s segments (Output.Time_shift_buffer_depth 14400).
func BenchmarkRender(b *testing.B) {
	for _, window := range []int{6, 14400} {
		b.Run(fmt.Sprintf("window=%d", window), func(b *testing.B) {
			p := NewPlaylist(1, 1, 1.0/3, window)
			at := time.Unix(1_800_000_000, 0)
			for i := range window + 1 {
				uri := fmt.Sprintf("seg-%d.m4s", i)
				p.Begin(uri, "init.mp4", false)
				for k := range 3 {
					p.AddPart(uri, Part{Offset: int64(k) * 1000, Length: 1000, Duration: 1.0 / 3, Independent: k == 0}, at)
					at = at.Add(time.Second / 3)
				}
				if i < window {
					p.Complete(uri)
				}
			}
			b.ReportAllocs()
			var size int
			for b.Loop() {
				size = len(p.Render())
			}
			b.ReportMetric(float64(size), "bytes/playlist")
		})
	}
}
