package jobspec

import (
	"fmt"
	"math"
	"strings"
)

// Cost is what one live job asks of a node: the scheduler places by it and
// the Nomad driver reserves it, so Nomad's accounting matches ours.
type Cost struct {
	CPU      float64 // cores, i.e. CPU-seconds per second of media
	MemoryMB int     // MiB
}

// The cost model, calibrated on this project's measurement (Debian 12,
// ffmpeg 5.1.9): the sample ladder (640x360@25 + 768x432@25, h264, one AAC
// output, one decode with split+scale) costs about 0.20 CPU-s per media-s at
// "veryfast" and 0.28 at "faster".
//
//	CPU = process + AAC encoders × per-audio    (HLS mpegts: one per variant)
//	    + largest rendition's pixels/s × decode   (the input is assumed that size)
//	    + Σ rendition pixels/s × per-pixel(veryfast) × preset factor × codec factor
//
// Everything but the per-pixel encode figure is an estimate; the per-pixel
// figure is solved so the sample ladder costs exactly the measured 0.20, and
// the "faster" factor so it costs 0.28. Other preset factors follow x264's
// relative speeds; h265 costs about 4× h264 at the same preset.
const (
	costProcess        = 0.02   // cores: demux, mux, HTTP upload
	costPerAudio       = 0.01   // cores per AAC output
	costDecodePerPixel = 2.5e-9 // cores per input pixel/s

	measuredVeryfast = 0.20 // CPU-s per media-s, sample ladder
	measuredFaster   = 0.28

	h265Factor = 4.0

	memProcessMiB   = 150 // ffmpeg, its input buffers and the decoder
	memRenditionMiB = 16  // encoder state besides frames
	memAudioMiB     = 8
)

// sampleLadder is the calibration ladder: the sample spec's renditions.
var sampleLadder = []VideoOutput{
	{Codec: "h264", Width: 640, Height: 360, Framerate: 25},
	{Codec: "h264", Width: 768, Height: 432, Framerate: 25},
}

// costPerPixel is the encode cost at veryfast, in cores per pixel/s.
var costPerPixel = func() float64 {
	overhead := costProcess + costPerAudio + costDecodePerPixel*largestPixelRate(sampleLadder)
	return (measuredVeryfast - overhead) / totalPixelRate(sampleLadder)
}()

// presetFactor is each preset's encode cost relative to veryfast.
var presetFactor = map[string]float64{
	"ultrafast": 0.5,
	"superfast": 0.7,
	"veryfast":  1,
	"faster":    (measuredFaster-measuredVeryfast)/(costPerPixel*totalPixelRate(sampleLadder)) + 1,
	"fast":      2,
	"medium":    2.5,
	"slow":      3.8,
	"slower":    6.5,
	"veryslow":  12,
	"placebo":   35,
}

// lookaheadFrames is x264's rc-lookahead per preset: frames each encoder
// holds besides its references and threads.
var lookaheadFrames = map[string]int{
	"ultrafast": 0, "superfast": 0, "veryfast": 10, "faster": 20, "fast": 30,
	"medium": 40, "slow": 50, "slower": 60, "veryslow": 60, "placebo": 60,
}

// EstimateCost estimates the CPU and memory a job's transcoder needs, from
// its ladder (see the model above). Memory is 150 MiB for the process, plus
// per rendition 16 MiB and the raw 4:2:0 frames its encoder holds (the
// preset's lookahead + 16), ×1.5 for h265, plus 8 MiB per AAC encoder. It
// is meant for a spec Parse returned (defaults applied); values out of range
// count as zero rather than panicking.
func EstimateCost(s Spec) Cost {
	o := s.Output
	audio := audioEncodes(o)
	cpu := costProcess + costPerAudio*float64(audio) + costDecodePerPixel*largestPixelRate(o.Video_outputs)
	mem := float64(memProcessMiB + memAudioMiB*audio)
	for _, v := range o.Video_outputs {
		codec := 1.0
		if v.Codec == "h265" {
			codec = h265Factor
		}
		cpu += pixelRate(v) * costPerPixel * factorOf(v.Preset) * codec
		mem += renditionMemoryMiB(v)
	}
	return Cost{CPU: cpu, MemoryMB: int(math.Ceil(mem))}
}

// audioEncodes is how many AAC encoders the job runs: one, except for HLS
// with mpegts segments, where each variant carries its own copy of the audio
// (as ffmpeg.Args does).
func audioEncodes(o Output) int {
	if len(o.Audio_outputs) == 0 {
		return 0
	}
	if o.Stream_type == "hls" && o.Segment_format == "mpegts" && len(o.Video_outputs) > 0 {
		return len(o.Video_outputs)
	}
	return 1
}

func renditionMemoryMiB(v VideoOutput) float64 {
	frames := lookaheadFrames[v.Preset]
	if _, ok := lookaheadFrames[v.Preset]; !ok {
		frames = lookaheadFrames[DefaultPreset]
	}
	frameBytes := float64(max(v.Width, 0)) * float64(max(v.Height, 0)) * 1.5
	mib := memRenditionMiB + frameBytes*float64(frames+16)/(1<<20)
	if v.Codec == "h265" {
		mib *= 1.5
	}
	return mib
}

func factorOf(preset string) float64 {
	if f, ok := presetFactor[preset]; ok {
		return f
	}
	return presetFactor[DefaultPreset]
}

// pixelRate is a rendition's pixels per second, 0 for nonsense values.
func pixelRate(v VideoOutput) float64 {
	if v.Width <= 0 || v.Height <= 0 || !(v.Framerate > 0) || math.IsInf(v.Framerate, 0) {
		return 0
	}
	return float64(v.Width) * float64(v.Height) * v.Framerate
}

func totalPixelRate(ladder []VideoOutput) float64 {
	var sum float64
	for _, v := range ladder {
		sum += pixelRate(v)
	}
	return sum
}

func largestPixelRate(ladder []VideoOutput) float64 {
	var largest float64
	for _, v := range ladder {
		largest = max(largest, pixelRate(v))
	}
	return largest
}

// Summary describes a job's output in one line for operators (Nomad meta,
// logs), e.g.
//
//	dash/fmp4 4s: video365k 640x360@25 365k, video550k 768x432@25 550k; audio128k aac 128k
//
// A video codec other than h264 is named after the label.
func Summary(s Spec) string {
	o := s.Output
	var video, audio []string
	for _, v := range o.Video_outputs {
		codec := ""
		if v.Codec != "h264" {
			codec = " " + v.Codec
		}
		video = append(video, fmt.Sprintf("%s%s %dx%d@%s %s", v.Label, codec, v.Width, v.Height, num(v.Framerate), v.Bitrate))
	}
	for _, a := range o.Audio_outputs {
		audio = append(audio, fmt.Sprintf("%s %s %s", a.Label, a.Codec, a.Bitrate))
	}
	var parts []string
	for _, list := range [][]string{video, audio} {
		if len(list) > 0 {
			parts = append(parts, strings.Join(list, ", "))
		}
	}
	return fmt.Sprintf("%s/%s %ss: %s", o.Stream_type, o.Segment_format, num(o.Segment_duration), strings.Join(parts, "; "))
}
