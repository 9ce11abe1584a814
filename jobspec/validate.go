package jobspec

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The caps Validate enforces. Sizes are caps on what one worker can encode
// live, not codec limits: each side 64–3840 pixels (portrait allowed) and at
// most 3840×2160 pixels per frame.
const (
	MinSegmentDuration = 1.0  // seconds
	MaxSegmentDuration = 30.0 // seconds
	MaxVideoOutputs    = 10
	MaxAudioOutputs    = 1 // every video rendition plays the same audio
	MinSide            = 64
	MaxSide            = 3840
	MaxPixels          = 3840 * 2160
	MinFramerate       = 1.0
	MaxFramerate       = 60.0
	MinVideoBitrate    = 10_000
	MaxVideoBitrate    = 100_000_000
	MaxThreads         = 16
	MinAudioBitrate    = 32_000
	MaxAudioBitrate    = 512_000

	minGopSize   = 0.5  // seconds
	maxGopSize   = 10.0 // seconds
	gopTolerance = 1e-6
	maxChecked   = MaxVideoOutputs // outputs checked one by one, of each kind
)

// The bounds of Input_loss.
const (
	MaxReconnectWindow = 1800.0 // seconds
	MaxRepeatLastFrame = 10.0   // seconds
	MaxSlateURLLength  = 2048   // bytes
)

// MaxLowLatencySegment caps Segment_duration in Low_latency_mode: a
// player's delay grows with the segment (HLS players hold back three; DASH
// players fetch chunks, but a segment's GOPs end with it, so it bounds them).
const MaxLowLatencySegment = 2.0 // seconds

// labelPattern keeps labels safe as file and directory names.
var labelPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Presets are the x264/x265 presets, fastest first.
var Presets = []string{"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"}

// Validate checks a spec that Defaults has filled and returns every problem
// at once: nil, or an *Error with code EINVALID whose Fields name each bad
// field by its path (Output.Video_outputs[1].Bitrate) with a sentence a user
// understands.
//
// Rules: Stream_type hls|dash; Segment_format mpegts|fmp4|cmaf, and not
// mpegts for dash; Segment_duration 1–30 s (1–2 s with Low_latency_mode); 0–10 video renditions (0 only
// with audio); at most 1 audio output; labels unique across video and audio
// (ignoring case) and made of 1–64 letters, digits, "_" or "-"; video Codec
// h264|h265; Width and Height even, 64–3840, at most 3840×2160 pixels;
// Framerate 1–60; Bitrate 10k–100M written as ParseBitrate reads it;
// Max_bitrate ≥ Bitrate; Buf_size > 0; Preset one of Presets; Threads 0–16;
// Gop_size 0.5–10 s with Segment_duration a whole multiple of it; audio Codec
// aac, Bitrate 32k–512k. With a Drm block: Protection_scheme "cenc" for dash,
// "cbcs" for hls fmp4/cmaf, "aes-128" for hls mpegts (or empty for that
// default); Protection_system ClearKey (or empty), Widevine, PlayReady or
// FairPlay (FairPlay only with cbcs, none but ClearKey with aes-128);
// Disable_clear_key only with a commercial system; h264 video unless mpegts.
// Time_shift_buffer_depth 0–14400 s. Input_loss: Reconnect_window 0–1800 s; Repeat_last_frame 0–10 s and at
// most Reconnect_window; Slate_url empty or an absolute http(s) URL of at
// most 2048 characters. Playback_policy: empty, "public" or "signed".
func Validate(s Spec) error {
	if fields := validate(s); len(fields) > 0 {
		return invalidSpec(fields)
	}
	return nil
}

func invalidSpec(fields []FieldError) *Error {
	return &Error{Code: EINVALID, Message: "invalid live job spec", Fields: fields}
}

// specCheck collects the problems of one spec.
type specCheck struct {
	fields []FieldError
	labels map[string]string // lower-cased label → path of its first use
}

func (c *specCheck) add(path, format string, args ...any) {
	c.fields = append(c.fields, FieldError{Field: path, Message: fmt.Sprintf(format, args...)})
}

func validate(s Spec) []FieldError {
	c := &specCheck{labels: map[string]string{}}
	o := s.Output
	c.packaging(o)
	c.lowLatency(o)
	c.drm(o)
	c.counts(o)
	c.timeShift(o)
	segmentOK := o.Segment_duration >= MinSegmentDuration && o.Segment_duration <= MaxSegmentDuration
	// Past maxChecked the outputs are not checked one by one: an error per
	// field of a huge list would only amplify a bad request.
	for i, v := range o.Video_outputs[:min(len(o.Video_outputs), maxChecked)] {
		c.video(fmt.Sprintf("Output.Video_outputs[%d]", i), v, o.Segment_duration, segmentOK)
	}
	for i, a := range o.Audio_outputs[:min(len(o.Audio_outputs), maxChecked)] {
		c.audio(fmt.Sprintf("Output.Audio_outputs[%d]", i), a)
	}
	c.shapes(o)
	c.playbackPolicy(s.Playback_policy)
	c.s3Output(o)
	if s.Input_loss != nil {
		c.inputLoss(*s.Input_loss)
	}
	return c.fields
}

// inputLoss checks the Input_loss block; an absent number takes its default
// (inputLossDefaults), which is always valid.
func (c *specCheck) inputLoss(l InputLoss) {
	inputLossDefaults(&l)
	window, repeat := *l.Reconnect_window, *l.Repeat_last_frame
	windowOK := window >= 0 && window <= MaxReconnectWindow
	if !windowOK {
		c.add("Input_loss.Reconnect_window", "must be between 0 (no slate: the stream ends when the publisher leaves) and %g seconds, got %s", MaxReconnectWindow, num(window))
	}
	switch {
	case repeat < 0 || repeat > MaxRepeatLastFrame:
		c.add("Input_loss.Repeat_last_frame", "must be between 0 and %g seconds, got %s", MaxRepeatLastFrame, num(repeat))
	case windowOK && repeat > window:
		c.add("Input_loss.Repeat_last_frame", "must not be longer than Reconnect_window (%s s), got %s s", num(window), num(repeat))
	}
	c.slateURL(l.Slate_url)
}

// slateURL checks that the slate is an image the transcoder can fetch over
// HTTP: an absolute http(s) URL with a host.
func (c *specCheck) slateURL(raw string) {
	const path = "Input_loss.Slate_url"
	if raw == "" {
		return
	}
	if len(raw) > MaxSlateURLLength {
		c.add(path, "must be at most %d characters, got %d", MaxSlateURLLength, len(raw))
		return
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		c.add(path, `must be an absolute http or https URL of an image, such as "https://example.com/slate.png", or empty for the built-in card; got %s`, shortJSON([]byte(strconv.Quote(raw))))
	}
}

// shapes refuses a ladder packaged for DASH (DASHPackaged) whose
// renditions are of different shapes: its one video adaptation set has one
// display aspect ratio ("Conflicting stream aspect ratios values in
// Adaptation Set", and ffmpeg exits).
func (c *specCheck) shapes(o Output) {
	if !DASHPackaged(o) || len(o.Video_outputs) < 2 || len(o.Video_outputs) > maxChecked {
		return
	}
	for _, v := range o.Video_outputs {
		if !validSize(v.Width, v.Height) {
			return // reported as a size error already
		}
	}
	darW, darH := LadderAspect(o.Video_outputs)
	for i, v := range o.Video_outputs {
		if !SameShape(v.Width, v.Height, darW, darH) {
			c.add(fmt.Sprintf("Output.Video_outputs[%d].Height", i),
				"a DASH, CMAF or low-latency HLS ladder needs every rendition in the largest one's shape (%d:%d, within 2%%), got %dx%d", darW, darH, v.Width, v.Height)
		}
	}
}

func (c *specCheck) packaging(o Output) {
	switch o.Stream_type {
	case "hls", "dash":
	default:
		c.add("Output.Stream_type", `must be "hls" or "dash", got %q`, o.Stream_type)
	}
	switch {
	case !slices.Contains([]string{"mpegts", "fmp4", "cmaf"}, o.Segment_format):
		c.add("Output.Segment_format", `must be "mpegts", "fmp4" or "cmaf", got %q`, o.Segment_format)
	case o.Stream_type == "dash" && o.Segment_format == "mpegts":
		c.add("Output.Segment_format", `"mpegts" segments cannot be served as DASH: use "fmp4" or "cmaf", or Stream_type "hls"`)
	}
	if d := o.Segment_duration; d < MinSegmentDuration || d > MaxSegmentDuration {
		c.add("Output.Segment_duration", "must be between %g and %g seconds, got %s", MinSegmentDuration, MaxSegmentDuration, num(d))
	}
}

// timeShift checks the DVR window.
func (c *specCheck) timeShift(o Output) {
	if d := o.Time_shift_buffer_depth; d < 0 || d > MaxTimeShift {
		c.add("Output.Time_shift_buffer_depth", "must be between 0 (the live edge only) and %g seconds, got %s", MaxTimeShift, num(d))
	}
}

func (c *specCheck) lowLatency(o Output) {
	d := o.Segment_duration
	if o.Low_latency_mode && d > MaxLowLatencySegment && d <= MaxSegmentDuration {
		c.add("Output.Segment_duration", "must be at most %g seconds with Low_latency_mode, got %s", MaxLowLatencySegment, num(d))
	}
}

func (c *specCheck) counts(o Output) {
	nv, na := len(o.Video_outputs), len(o.Audio_outputs)
	switch {
	case nv == 0 && na == 0:
		c.add("Output.Video_outputs", "at least one video or audio output is required")
	case nv > MaxVideoOutputs:
		c.add("Output.Video_outputs", "at most %d video renditions are allowed, got %d (only the first %d are checked)", MaxVideoOutputs, nv, maxChecked)
	}
	if na > MaxAudioOutputs {
		c.add("Output.Audio_outputs", "at most %d audio output is allowed, got %d: every video rendition plays the same audio", MaxAudioOutputs, na)
	}
}

func (c *specCheck) video(path string, v VideoOutput, segment float64, segmentOK bool) {
	c.label(path+".Label", v.Label)
	if v.Codec != "h264" && v.Codec != "h265" {
		c.add(path+".Codec", `must be "h264" or "h265", got %q`, v.Codec)
	}
	c.size(path, v.Width, v.Height)
	if v.Framerate < MinFramerate || v.Framerate > MaxFramerate {
		c.add(path+".Framerate", "must be between %g and %g frames per second, got %s", MinFramerate, MaxFramerate, num(v.Framerate))
	}
	c.rates(path, v)
	if !slices.Contains(Presets, v.Preset) {
		c.add(path+".Preset", "must be one of %s; got %q", strings.Join(Presets, ", "), v.Preset)
	}
	if v.Threads < 0 || v.Threads > MaxThreads {
		c.add(path+".Threads", "must be between 0 (the encoder chooses) and %d, got %d", MaxThreads, v.Threads)
	}
	switch g := v.Gop_size; {
	case g < minGopSize || g > maxGopSize:
		c.add(path+".Gop_size", "must be between %g and %g seconds, got %s", minGopSize, maxGopSize, num(g))
	case segmentOK && !wholeMultiple(segment, g):
		c.add(path+".Gop_size", "must divide Segment_duration (%s s) a whole number of times, so that every segment starts on a keyframe; got %s s", num(segment), num(g))
	}
}

func (c *specCheck) size(path string, w, h int) {
	side := func(field string, n int) bool {
		switch {
		case n == 0:
			c.add(path+"."+field, "is required: an even number of pixels between %d and %d", MinSide, MaxSide)
		case n < MinSide || n > MaxSide:
			c.add(path+"."+field, "must be between %d and %d pixels, got %d", MinSide, MaxSide, n)
		case n%2 != 0:
			c.add(path+"."+field, "must be an even number of pixels (4:2:0 video), got %d", n)
		default:
			return true
		}
		return false
	}
	okW, okH := side("Width", w), side("Height", h)
	if okW && okH && w*h > MaxPixels {
		c.add(path, "a rendition may have at most 3840×2160 pixels, got %dx%d", w, h)
	}
}

// validSize reports whether w×h passes the size rules.
func validSize(w, h int) bool {
	side := func(n int) bool { return n >= MinSide && n <= MaxSide && n%2 == 0 }
	return side(w) && side(h) && w*h <= MaxPixels
}

func (c *specCheck) rates(path string, v VideoOutput) {
	rate, ok := c.bitrate(path+".Bitrate", v.Bitrate, MinVideoBitrate, MaxVideoBitrate)
	if !ok {
		return // Max_bitrate and Buf_size are only defaulted, and compared, from a good Bitrate
	}
	maxRate, ok := c.bitrate(path+".Max_bitrate", v.Max_bitrate, MinVideoBitrate, MaxVideoBitrate)
	if ok && maxRate < rate {
		c.add(path+".Max_bitrate", "must be at least Bitrate (%s), got %s", v.Bitrate, v.Max_bitrate)
	}
	c.bitrate(path+".Buf_size", v.Buf_size, 1, 0)
}

// bitrate checks one bitrate field within [lo, hi] bits per second (hi 0:
// no upper bound beyond ParseBitrate's).
func (c *specCheck) bitrate(path, text string, lo, hi int64) (int64, bool) {
	if strings.TrimSpace(text) == "" {
		c.add(path, `is required, e.g. "365k", "2.5M" or "800000"`)
		return 0, false
	}
	bps, err := ParseBitrate(text)
	switch {
	case err != nil:
		c.add(path, "%s", err)
	case hi == 0 && bps < lo:
		c.add(path, "must be more than %s bits, got %s", FormatBitrate(lo-1), text)
	case bps < lo || hi > 0 && bps > hi:
		c.add(path, "must be between %s and %s, got %s", FormatBitrate(lo), FormatBitrate(hi), text)
	default:
		return bps, true
	}
	return 0, false
}

func (c *specCheck) audio(path string, a AudioOutput) {
	c.label(path+".Label", a.Label)
	if a.Codec != "aac" {
		c.add(path+".Codec", `must be "aac", got %q`, a.Codec)
	}
	c.bitrate(path+".Bitrate", a.Bitrate, MinAudioBitrate, MaxAudioBitrate)
}

// label checks that a label is safe in a path and not used before: labels
// name the rendition's files, on file systems that may ignore case.
func (c *specCheck) label(path, label string) {
	if !labelPattern.MatchString(label) {
		c.add(path, `must be 1 to 64 letters, digits, "_" or "-", because it names the rendition's files; got %q`, label)
		return
	}
	key := strings.ToLower(label)
	if first, used := c.labels[key]; used {
		c.add(path, "%q is already used by %s: labels name the renditions' files and must be unique", label, first)
		return
	}
	c.labels[key] = path
}

// num writes a number of seconds or frames as a user wrote it: 4, 29.97.
func num(f float64) string {
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// Drm protection schemes, per packaging: cenc for DASH (fmp4, cmaf), cbcs
// for HLS fmp4 and cmaf, whole-segment AES-128 for HLS mpegts.
const (
	DrmSchemeCENC   = "cenc"
	DrmSchemeCBCS   = "cbcs"
	DrmSchemeAES128 = "aes-128"
)

// drmSupported says what each packaging can be encrypted with.
const drmSupported = `supported: "cenc" for dash fmp4/cmaf, "cbcs" for hls fmp4/cmaf, "aes-128" for hls mpegts`

// drmSystems are the Protection_system values we know ("" is ClearKey).
var drmSystems = []string{"", "ClearKey", "Widevine", "PlayReady", "FairPlay"}

// DrmScheme is the protection scheme a job with a Drm block is encrypted
// with: Protection_scheme (lower case) when set, else the one its packaging
// supports.
func DrmScheme(o Output) string {
	if o.Drm != nil && o.Drm.Protection_scheme != "" {
		return strings.ToLower(o.Drm.Protection_scheme)
	}
	return supportedDrmScheme(o)
}

func supportedDrmScheme(o Output) string {
	switch {
	case o.Stream_type == "dash":
		return DrmSchemeCENC
	case o.Segment_format == "mpegts":
		return DrmSchemeAES128
	}
	return DrmSchemeCBCS
}

// drm checks the Drm block against what the origin's encryption can do.
func (c *specCheck) drm(o Output) {
	d := o.Drm
	if d == nil {
		return
	}
	scheme, want := DrmScheme(o), supportedDrmScheme(o)
	if scheme != want {
		c.add("Output.Drm.Protection_scheme", "%q cannot protect %s %s: use %q (%s)", d.Protection_scheme, o.Stream_type, o.Segment_format, want, drmSupported)
	}
	sys := d.Protection_system
	switch {
	case !slices.ContainsFunc(drmSystems, func(s string) bool { return strings.EqualFold(s, sys) }):
		c.add("Output.Drm.Protection_system", `must be "ClearKey", "Widevine", "PlayReady" or "FairPlay" (or empty for ClearKey), got %q`, sys)
	case strings.EqualFold(sys, "FairPlay") && want != DrmSchemeCBCS:
		c.add("Output.Drm.Protection_system", `"FairPlay" needs Stream_type "hls" with Segment_format "fmp4" or "cmaf" (cbcs)`)
	case want == DrmSchemeAES128 && !strings.EqualFold(sys, "ClearKey") && sys != "":
		c.add("Output.Drm.Protection_system", `%q cannot protect hls mpegts (whole-segment AES-128 has no DRM system): use "ClearKey", or Segment_format "fmp4"`, sys)
	case bool(d.Disable_clear_key) && (sys == "" || strings.EqualFold(sys, "ClearKey")):
		c.add("Output.Drm.Disable_clear_key", "with ClearKey disabled nothing could hand out the key: set Protection_system to \"Widevine\", \"PlayReady\" or \"FairPlay\"")
	}
	if want == DrmSchemeAES128 {
		return // whole-segment encryption does not look inside the codec
	}
	for i, v := range o.Video_outputs {
		if v.Codec == "h265" {
			c.add(fmt.Sprintf("Output.Video_outputs[%d].Codec", i), `"h265" cannot be encrypted yet (sample encryption supports h264): use "h264" or remove Output.Drm`)
		}
	}
}
