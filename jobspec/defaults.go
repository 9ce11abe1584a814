package jobspec

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The defaults, named once; the table on Defaults is their documentation.
const (
	DefaultStreamType       = "hls"
	DefaultSegmentDuration  = 4.0 // seconds
	DefaultVideoCodec       = "h264"
	DefaultFramerate        = 30.0
	DefaultPreset           = "veryfast"
	DefaultGopSize          = 2.0 // seconds, when it divides the segment duration
	DefaultAudioCodec       = "aac"
	DefaultAudioBitrate     = "128k"
	DefaultReconnectWindow  = 60.0 // seconds
	DefaultRepeatLastFrame  = 1.0  // seconds, at most the reconnect window
	defaultBufSizeToMaxRate = 2
)

// DefaultSlateText is the built-in card shown while the publisher is away
// and Input_loss.Slate_url is empty.
const DefaultSlateText = "The stream will resume shortly"

// defaultSegmentFormat is the segment format of each stream type when the
// spec names none: the most widely playable one.
func defaultSegmentFormat(streamType string) string {
	if streamType == "dash" {
		return "fmp4"
	}
	return "mpegts"
}

// Defaults fills what a spec leaves out. It only fills empty (zero) fields,
// absent ones in Input_loss, never changes a value the user gave, and is
// idempotent. Parse calls it before Validate; ffmpeg.Args may rely on it
// having run.
//
//	field                        default when missing (empty or 0)
//	---------------------------  ---------------------------------------------------
//	Output.Stream_type           "hls"
//	Output.Segment_format        "mpegts" for hls, "fmp4" for dash
//	Output.Segment_duration      4 (seconds)
//	Output.Low_latency_mode      false
//	Output.Video_outputs         none (an audio-only stream needs one audio output)
//	Output.Audio_outputs         none (a video-only stream)
//	Video_outputs[i].Codec       "h264"
//	Video_outputs[i].Framerate   30
//	Video_outputs[i].Width       none: required
//	Video_outputs[i].Height      none: required
//	Video_outputs[i].Bitrate     none: required
//	Video_outputs[i].Max_bitrate the rendition's Bitrate
//	Video_outputs[i].Buf_size    2 × Max_bitrate
//	Video_outputs[i].Preset      "veryfast"
//	Video_outputs[i].Threads     0, which lets the encoder choose
//	Video_outputs[i].Gop_size    2 (seconds) when Segment_duration is a whole multiple
//	                             of 2; else Segment_duration itself when at most 10;
//	                             else the largest of 10, 9.5, …, 0.5 that divides it
//	Video_outputs[i].Label       "video<kbps>k" from Bitrate, e.g. "video365k"
//	                             ("video<position>" when Bitrate is unusable)
//	Audio_outputs[i].Codec       "aac"
//	Audio_outputs[i].Bitrate     "128k"
//	Audio_outputs[i].Label       "audio<kbps>k" from Bitrate, e.g. "audio128k"
//	Input_loss                   left absent: InputLossOf gives its defaults
//	Input_loss.Reconnect_window  60 (seconds); only when absent: 0 is a value
//	Input_loss.Repeat_last_frame 1 (seconds), or the Reconnect_window when shorter;
//	                             only when absent
//	Input_loss.Slate_url         none: the built-in card (DefaultSlateText)
//
// A generated label that is already taken gets a suffix ("video365k_2"). A
// field whose own input is unusable (say Bitrate "fast") is left empty so
// that Validate names the real mistake once.
func Defaults(s *Spec) {
	o := &s.Output
	if o.Stream_type == "" {
		o.Stream_type = DefaultStreamType
	}
	if o.Segment_format == "" {
		o.Segment_format = defaultSegmentFormat(o.Stream_type)
	}
	if o.Segment_duration == 0 {
		o.Segment_duration = DefaultSegmentDuration
	}
	for i := range o.Video_outputs {
		videoDefaults(&o.Video_outputs[i], o.Segment_duration)
	}
	for i := range o.Audio_outputs {
		audioDefaults(&o.Audio_outputs[i])
	}
	defaultLabels(o)
	if s.Input_loss != nil {
		inputLossDefaults(s.Input_loss)
	}
}

// inputLossDefaults fills the numbers an Input_loss block leaves out. The
// default repeat stays within the window (and at 0 for a negative one), so
// that a bad window is named once, by Validate.
func inputLossDefaults(l *InputLoss) {
	if l.Reconnect_window == nil {
		l.Reconnect_window = new(DefaultReconnectWindow)
	}
	if l.Repeat_last_frame == nil {
		l.Repeat_last_frame = new(max(0, min(DefaultRepeatLastFrame, *l.Reconnect_window)))
	}
}

// InputLossSettings are a job's Input_loss in effect, for the transcoder.
type InputLossSettings struct {
	ReconnectWindow time.Duration // 0: no slate, the stream ends when the publisher leaves
	RepeatLastFrame time.Duration // the last frame, repeated before the slate; at most ReconnectWindow
	SlateURL        string        // the slate's image; "": the built-in card (DefaultSlateText)
}

// InputLossOf returns the Input_loss settings of a validated spec with the
// defaults applied, whether or not Defaults ran.
func InputLossOf(s Spec) InputLossSettings {
	var l InputLoss
	if s.Input_loss != nil {
		l = *s.Input_loss
	}
	inputLossDefaults(&l)
	return InputLossSettings{
		ReconnectWindow: seconds(*l.Reconnect_window),
		RepeatLastFrame: seconds(*l.Repeat_last_frame),
		SlateURL:        l.Slate_url,
	}
}

func seconds(f float64) time.Duration {
	return time.Duration(math.Round(f * float64(time.Second)))
}

func videoDefaults(v *VideoOutput, segment float64) {
	if v.Codec == "" {
		v.Codec = DefaultVideoCodec
	}
	if v.Framerate == 0 {
		v.Framerate = DefaultFramerate
	}
	if v.Preset == "" {
		v.Preset = DefaultPreset
	}
	if v.Gop_size == 0 {
		v.Gop_size = defaultGopSize(segment)
	}
	if _, err := ParseBitrate(v.Bitrate); v.Max_bitrate == "" && err == nil {
		v.Max_bitrate = v.Bitrate
	}
	if maxRate, err := ParseBitrate(v.Max_bitrate); v.Buf_size == "" && err == nil {
		v.Buf_size = FormatBitrate(defaultBufSizeToMaxRate * maxRate)
	}
}

func audioDefaults(a *AudioOutput) {
	if a.Codec == "" {
		a.Codec = DefaultAudioCodec
	}
	if a.Bitrate == "" {
		a.Bitrate = DefaultAudioBitrate
	}
}

// defaultGopSize picks a keyframe interval that the segment duration is a
// whole multiple of, so that every segment starts on a keyframe.
func defaultGopSize(segment float64) float64 {
	if wholeMultiple(segment, DefaultGopSize) || segment <= 0 {
		return DefaultGopSize
	}
	if segment <= maxGopSize {
		return segment
	}
	for g := maxGopSize; g >= minGopSize; g -= 0.5 {
		if wholeMultiple(segment, g) {
			return g
		}
	}
	return DefaultGopSize
}

// wholeMultiple reports whether a is n×b for a whole n ≥ 1.
func wholeMultiple(a, b float64) bool {
	if b <= 0 || a < b-gopTolerance {
		return false
	}
	n := a / b
	return math.Abs(n-math.Round(n)) < gopTolerance
}

// defaultLabels names the renditions left without a label from their
// bitrate, keeping labels unique across video and audio.
func defaultLabels(o *Output) {
	taken := map[string]bool{}
	for _, v := range o.Video_outputs {
		taken[strings.ToLower(v.Label)] = true
	}
	for _, a := range o.Audio_outputs {
		taken[strings.ToLower(a.Label)] = true
	}
	for i := range o.Video_outputs {
		v := &o.Video_outputs[i]
		if v.Label == "" {
			v.Label = freeLabel("video", v.Bitrate, i, taken)
		}
	}
	for i := range o.Audio_outputs {
		a := &o.Audio_outputs[i]
		if a.Label == "" {
			a.Label = freeLabel("audio", a.Bitrate, i, taken)
		}
	}
}

func freeLabel(kind, bitrate string, index int, taken map[string]bool) string {
	base := fmt.Sprintf("%s%d", kind, index+1)
	if bps, err := ParseBitrate(bitrate); err == nil {
		base = fmt.Sprintf("%s%dk", kind, (bps+500)/1000)
	}
	label := base
	for n := 2; taken[strings.ToLower(label)]; n++ {
		label = base + "_" + strconv.Itoa(n)
	}
	taken[strings.ToLower(label)] = true
	return label
}

// FormatBitrate writes bits per second the way the spec and ffmpeg take
// them: "2M", "365k" or "800500".
func FormatBitrate(bps int64) string {
	switch {
	case bps != 0 && bps%1_000_000 == 0:
		return strconv.FormatInt(bps/1_000_000, 10) + "M"
	case bps != 0 && bps%1000 == 0:
		return strconv.FormatInt(bps/1000, 10) + "k"
	}
	return strconv.FormatInt(bps, 10)
}
