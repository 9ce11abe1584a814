package ffmpeg

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/ezlivestreaming/ezlive/jobspec"
)

// Target says where one run of a job's ffmpeg reads and publishes.
type Target struct {
	// Input is where ffmpeg reads its one FLV input: empty for standard
	// input, where the transcoder writes the publisher's media and, while
	// the input is lost, the slate, on one continuous timeline.
	Input string
	// OutputURL is the origin base URL of the job, ending in '/', e.g.
	// http://127.0.0.1:1081/live/<job id>/.
	OutputURL string
	// UploadToken, when set, is sent as "Authorization: Bearer <token>" on
	// every PUT and DELETE. The transcoder leaves it empty and writes through
	// its loopback relay, which adds the header, so the token is not in
	// ffmpeg's argv for any local user to read.
	UploadToken string
	// Period numbers the runs of a placement: 0 for the first, one more for
	// each run after a reconnect window passed, ffmpeg failed or the
	// transcoder was restarted in place.
	Period int
	// Generation is the job's placement generation. With Period it makes
	// segment names unique across restarts and re-placements.
	Generation int64
	// TimeURL, when set, is the origin's clock (GET answers the UTC time in
	// ISO 8601). Low-latency MPDs name it in UTCTiming: players compute
	// which chunk is available from the wall clock, so theirs must agree
	// with the packager's to well under a fragment.
	TimeURL string
}

// Args returns the argv (without the program name) of the one ffmpeg
// that serves a job: one FLV input that always has one H.264 video and one
// AAC audio stream (the transcoder fills in silence), one decode, a split+scale filter
// graph, one encoder per rendition with aligned fixed GOPs, audio encoded
// once (once per variant for HLS mpegts, which needs audio muxed into every
// variant and where ffmpeg cannot share one encoder between variants),
// packaged as HLS or DASH and PUT to Target.OutputURL. Progress goes to
// stdout as key=value lines (-progress pipe:1). The spec must be validated
// and defaulted.
//
// Each write uses its own HTTP connection (-http_persistent 0): ffmpeg
// 5.1's persistent mode closes its sockets with responses unread, the
// kernel resets them and the receiver loses the last writes (the final
// segment, ENDLIST). Keep-alive to the origin is the transcoder relay's job.
func Args(spec jobspec.Spec, t Target) []string {
	o := spec.Output
	args := []string{
		"-hide_banner", "-nostdin", "-loglevel", "warning", "-nostats",
		"-progress", "pipe:1", "-stats_period", "1",
	}
	if o.Low_latency_mode {
		// Probe at most 0.5 s of the publisher's stream. ffmpeg timestamps
		// the DASH availabilityStartTime when its first packet reaches the
		// muxer; the stream probed before that is then muxed in a burst, so
		// media runs ahead of that clock by the probe (about 0.9 s more with
		// the default 5 s analyzeduration, measured against producer
		// reference time), and players that steer to a latency target by
		// that clock sit that much later than they think.
		args = append(args, "-analyzeduration", "500000")
	} else {
		// Both streams' configurations come first in the input: one second
		// of probing finds them.
		args = append(args, "-analyzeduration", "1000000")
	}
	in := t.Input
	if in == "" {
		in = "pipe:0"
	}
	args = append(args, "-f", "flv", "-i", in)
	args = append(args, videoArgs(o)...)
	args = append(args, audioArgs(o, audioCopies(o), "0:a:0")...)
	if jobspec.DASHPackaged(o) {
		args = append(args, dashArgs(o, t)...)
	} else {
		args = append(args, hlsArgs(o, t)...)
	}
	return append(args, thumbnailArgs(o, t)...)
}

// ThumbnailInterval is how often the job's thumbnail is refreshed, in
// seconds.
const ThumbnailInterval = 2

// thumbnailArgs add a second output: every ThumbnailInterval a frame of
// the one decode, at the first rendition's size, as a JPEG written over
// jobspec.Thumbnail (the image2 muxer sends each as an HTTP POST). It is
// the last output: ffmpeg's -progress reports frame and fps of the first
// video stream of its outputs, which must be a rendition's.
func thumbnailArgs(o jobspec.Output, t Target) []string {
	if !jobspec.HasThumbnail(o) {
		return nil
	}
	return []string{"-map", "[thumb]", "-c:v", "mjpeg", "-q:v", "5",
		"-f", "image2", "-update", "1", "-http_persistent", "0", t.OutputURL + jobspec.Thumbnail}
}

// LowLatencyPartTarget is the EXT-X-PART-INF PART-TARGET of a job's
// LL-HLS playlists, in seconds: the longest chunk the dash muxer writes.
// It closes a chunk at the first sample at or past jobspec.LowLatencyFragment, so
// a chunk is up to one sample longer: a video frame, or an AAC frame (1024
// samples; 44.1 kHz is the lowest rate we take, from the publisher).
func LowLatencyPartTarget(o jobspec.Output) float64 {
	longest := 1024.0 / 44100
	for _, v := range o.Video_outputs {
		longest = max(longest, 1/v.Framerate)
	}
	return math.Ceil((jobspec.LowLatencyFragment+longest)*1000) / 1000
}

// audioCopies is how many times the audio is encoded: once, except HLS
// mpegts, where every variant carries its own audio.
func audioCopies(o jobspec.Output) int {
	if len(o.Audio_outputs) == 0 {
		return 0
	}
	if !jobspec.DASHPackaged(o) && o.Segment_format == "mpegts" && len(o.Video_outputs) > 0 {
		return len(o.Video_outputs)
	}
	return 1
}

func videoArgs(o jobspec.Output) []string {
	n := len(o.Video_outputs)
	if n == 0 {
		return nil
	}
	// Decode once, split, then per rendition fix the frame rate and scale;
	// one more branch makes the thumbnails.
	thumb := jobspec.HasThumbnail(o)
	var g strings.Builder
	branches := n
	if thumb {
		branches++
	}
	fmt.Fprintf(&g, "[0:v:0]split=%d", branches)
	for i := range n {
		fmt.Fprintf(&g, "[s%d]", i)
	}
	if thumb {
		g.WriteString("[st]")
	}
	darW, darH := jobspec.LadderAspect(o.Video_outputs)
	for i, v := range o.Video_outputs {
		sarN, sarD := jobspec.SampleAspect(v.Width, v.Height, darW, darH)
		fmt.Fprintf(&g, ";[s%d]fps=%s,scale=%d:%d,setsar=%d/%d,format=yuv420p[v%d]", i, ffNum(v.Framerate), v.Width, v.Height, sarN, sarD, i)
	}
	if thumb {
		v := o.Video_outputs[0]
		fmt.Fprintf(&g, ";[st]fps=1/%d,scale=%d:%d,setsar=1[thumb]", ThumbnailInterval, v.Width, v.Height)
	}
	args := []string{"-filter_complex", g.String()}
	for i, v := range o.Video_outputs {
		args = append(args, "-map", fmt.Sprintf("[v%d]", i))
		args = append(args, renditionArgs(i, v, o)...)
		if jobspec.SameShape(v.Width, v.Height, darW, darH) {
			// The DASH muxer reads the stream's aspect, not the frames'.
			args = append(args, fmt.Sprintf("-aspect:v:%d", i), fmt.Sprintf("%d:%d", darW, darH))
		}
	}
	return args
}

// renditionArgs sets the encoder of output video stream i. Every option
// carries the :v:i stream specifier, so each rendition's own bitrate,
// maxrate and bufsize apply to it and not only to the first.
func renditionArgs(i int, v jobspec.VideoOutput, o jobspec.Output) []string {
	s := fmt.Sprintf(":v:%d", i)
	gopFrames := max(1, int(math.Round(v.Gop_size*v.Framerate)))
	args := []string{
		"-b" + s, v.Bitrate, "-maxrate" + s, v.Max_bitrate, "-bufsize" + s, v.Buf_size,
		"-preset" + s, v.Preset, "-threads" + s, strconv.Itoa(v.Threads),
		"-g" + s, strconv.Itoa(gopFrames), "-keyint_min" + s, strconv.Itoa(gopFrames),
		// Keyframes at every multiple of the GOP in media time: aligned across
		// renditions whatever their frame rate.
		"-force_key_frames" + s, "expr:gte(t,n_forced*" + ffNum(v.Gop_size) + ")",
	}
	if o.Low_latency_mode {
		// No lookahead, B-frames or frame threads: segments leave the
		// encoder about 0.6 s sooner, at some cost in quality per bit.
		args = append(args, "-tune"+s, "zerolatency")
	}
	if v.Codec == "h265" {
		x265 := fmt.Sprintf("keyint=%d:min-keyint=%d:scenecut=0:open-gop=0:log-level=error", gopFrames, gopFrames)
		if !o.Low_latency_mode {
			x265 += fmt.Sprintf(":rc-lookahead=%d", LookaheadFrames(v))
		}
		args = append(args, "-c"+s, Encoder(v.Codec), "-x265-params"+s, x265)
		if o.Segment_format != "mpegts" {
			args = append(args, "-tag"+s, "hvc1") // what Apple players expect in fmp4
		}
		return args
	}
	if !o.Low_latency_mode {
		args = append(args, "-rc-lookahead"+s, strconv.Itoa(LookaheadFrames(v)), "-x264-params"+s, "sync-lookahead=0")
	}
	return append(args, "-c"+s, Encoder(v.Codec), "-sc_threshold"+s, "0")
}

// Encoder is the ffmpeg encoder of a video codec of the spec ("h264" or
// "h265").
func Encoder(codec string) string {
	if codec == "h265" {
		return "libx265"
	}
	return "libx264"
}

// MaxLookahead bounds the encoder's rate-control lookahead outside
// low-latency mode, in seconds: frames wait that long in the encoder
// before they leave it. The presets' own lookahead (x264 faster: 20 frames,
// medium: 40) holds a segment back 0.8–1.6 s at 25 fps; 0.4 s keeps the
// macroblock-tree rate control most of its gain. The x264 encoder also gets
// sync-lookahead=0 (its threaded lookahead's buffer, B-frames + 1 frames
// more); together: about 0.5 s less from a frame's arrival to its segment
// (bench/media).
const MaxLookahead = 0.4

// Preset lookahead defaults, in frames (x264 and x265 documentation).
var (
	x264Lookahead = map[string]int{"ultrafast": 0, "superfast": 0, "veryfast": 10, "faster": 20, "fast": 30,
		"medium": 40, "slow": 50, "slower": 60, "veryslow": 60, "placebo": 60}
	x265Lookahead = map[string]int{"ultrafast": 5, "superfast": 10, "veryfast": 15, "faster": 15, "fast": 15,
		"medium": 20, "slow": 25, "slower": 40, "veryslow": 40, "placebo": 60}
)

// LookaheadFrames is the rate-control lookahead of rendition v outside
// low-latency mode: its preset's, at most MaxLookahead of frames.
func LookaheadFrames(v jobspec.VideoOutput) int {
	defaults := x264Lookahead
	if v.Codec == "h265" {
		defaults = x265Lookahead
	}
	preset, ok := defaults[v.Preset]
	if !ok {
		preset = defaults["medium"]
	}
	return min(preset, int(math.Round(MaxLookahead*v.Framerate)))
}

// audioArgs encodes the audio from input stream in ("0:a:0": the
// publisher's) copies times.
func audioArgs(o jobspec.Output, copies int, in string) []string {
	if copies == 0 {
		return nil
	}
	a := o.Audio_outputs[0]
	var args []string
	for i := range copies {
		s := fmt.Sprintf(":a:%d", i)
		args = append(args, "-map", in, "-c"+s, "aac", "-b"+s, a.Bitrate)
	}
	return args
}

// hlsArgs package HLS with ffmpeg's hls muxer. Low-latency jobs get here
// only when they cannot be LL-HLS (jobspec.LowLatencyHLS): then low-latency mode
// changes only the encoder (-tune zerolatency) and, through Validate, the
// segment duration (at most MaxLowLatencySegment), so players get standard
// HLS with 1–2 s segments and, by the HLS rules, start three target
// durations from the end: about 3–6 s behind the encoder.
func hlsArgs(o jobspec.Output, t Target) []string {
	run := runName(t)
	ext, segType := ".ts", "mpegts"
	if o.Segment_format == "fmp4" {
		ext, segType = hlsFMP4Ext, "fmp4"
	}
	args := []string{
		"-f", "hls",
		"-hls_time", ffNum(o.Segment_duration),
		"-hls_list_size", strconv.Itoa(jobspec.WindowSegments(o)),
		"-hls_flags", "delete_segments+independent_segments+discont_start+program_date_time",
		"-hls_start_number_source", "epoch",
		"-hls_segment_type", segType,
		"-hls_segment_filename", t.OutputURL + "%v-" + run + "-%d" + ext,
		"-master_pl_name", jobspec.HLSMaster,
		"-var_stream_map", varStreamMap(o),
		"-method", "PUT", "-http_persistent", "0", "-timeout", "10", "-ignore_io_errors", "1",
	}
	if t.UploadToken != "" {
		args = append(args, "-headers", authHeader(t))
	}
	if segType == "fmp4" {
		args = append(args, "-hls_fmp4_init_filename", HLSInitName("%v", run))
	}
	return append(args, t.OutputURL+"%v.m3u8")
}

// varStreamMap names each HLS variant after its label. fmp4 puts the audio
// in its own group (ffmpeg also lists it as an audio-only variant); mpegts
// muxes audio copy i into video variant i.
func varStreamMap(o jobspec.Output) string {
	var parts []string
	fmp4 := o.Segment_format == "fmp4"
	hasAudio := len(o.Audio_outputs) > 0
	for i, v := range o.Video_outputs {
		p := fmt.Sprintf("v:%d", i)
		switch {
		case hasAudio && fmp4:
			p += ",agroup:audio"
		case hasAudio:
			p += fmt.Sprintf(",a:%d", i)
		}
		parts = append(parts, p+",name:"+v.Label)
	}
	if hasAudio && (fmp4 || len(o.Video_outputs) == 0) {
		p := "a:0"
		if len(o.Video_outputs) > 0 {
			p += ",agroup:audio"
		}
		parts = append(parts, p+",name:"+o.Audio_outputs[0].Label)
	}
	return strings.Join(parts, " ")
}

func dashArgs(o jobspec.Output, t Target) []string {
	run := runName(t)
	timeline := "1"
	if o.Low_latency_mode {
		timeline = "0" // see lowLatencyDASHArgs
	}
	var sets []string
	if len(o.Video_outputs) > 0 {
		sets = append(sets, "id=0,streams=v")
	}
	if len(o.Audio_outputs) > 0 {
		sets = append(sets, fmt.Sprintf("id=%d,streams=a", len(sets)))
	}
	args := []string{
		"-f", "dash",
		"-seg_duration", ffNum(o.Segment_duration),
		"-window_size", strconv.Itoa(jobspec.WindowSegments(o)), "-extra_window_size", "2",
		"-use_template", "1", "-use_timeline", timeline,
		"-adaptation_sets", strings.Join(sets, " "),
		"-dash_segment_type", "mp4",
		"-init_seg_name", dashInitPrefix + run + "-$RepresentationID$" + dashInitExt,
		"-media_seg_name", dashChunkPrefix + run + "-$RepresentationID$-$Number%05d$" + dashChunkExt,
		"-method", "PUT", "-http_persistent", "0", "-timeout", "10", "-ignore_io_errors", "1",
	}
	if t.UploadToken != "" {
		// The dash muxer takes HTTP headers only through http_opts, a
		// dictionary whose separators and trailing CR LF must be escaped.
		args = append(args, "-http_opts", "headers="+dictEscape(authHeader(t)))
	}
	if o.Segment_format == "cmaf" || jobspec.LowLatencyHLS(o) {
		args = append(args, "-hls_playlist", "1", "-hls_master_name", jobspec.HLSMaster)
	}
	if o.Low_latency_mode {
		args = append(args, lowLatencyDASHArgs(t)...)
	}
	return append(args, t.OutputURL+jobspec.DASHMaster)
}

// lowLatencyDASHArgs make chunked CMAF: each segment is written as
// jobspec.LowLatencyFragment-long moof/mdat chunks while it is encoded (-streaming,
// one chunked PUT per segment, which the relay and the origin pass on to
// players as it arrives), and the MPD tells players so.
//
// ffmpeg 5.1 writes availabilityTimeOffset (segment minus fragment) only in
// a SegmentTemplate without SegmentTimeline, hence -use_timeline 0 for low
// latency. That also settles the lag of one rendition a segment behind the
// others that the timeline shows with -tune zerolatency: a timeline lists
// the segments each rendition has flushed when the MPD is written (dashenc
// flushes renditions one by one as each reaches its next keyframe), while
// a template with @duration lists none. Every rendition then has the same
// segments, and players compute the numbers from the wall clock (hence
// UTCTiming). -write_prft adds producer reference
// time (prft boxes, and ProducerReferenceTime in the MPD) mapping media
// time to the encoder's wall clock; -target_latency writes the
// ServiceDescription latency Shaka steers its playback rate towards.
func lowLatencyDASHArgs(t Target) []string {
	args := []string{
		"-ldash", "1", "-streaming", "1",
		"-frag_type", "duration", "-frag_duration", ffNum(jobspec.LowLatencyFragment),
		"-write_prft", "1",
		"-target_latency", ffNum(lowLatencyTarget),
	}
	if t.TimeURL != "" {
		args = append(args, "-utc_timing_url", t.TimeURL)
	}
	return args
}

// lowLatencyTarget is the latency players should keep in low-latency DASH,
// in seconds: three chunks, the one being encoded, the one in flight and
// one of buffer.
const lowLatencyTarget = 3 * jobspec.LowLatencyFragment

func authHeader(t Target) string { return "Authorization: Bearer " + t.UploadToken + "\r\n" }

func runName(t Target) string { return fmt.Sprintf("g%dp%d", t.Generation, t.Period) }

// dictEscape escapes the characters av_dict_parse_string treats as
// separators or escapes.
func dictEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `:`, `\:`, `=`, `\=`, `'`, `\'`, "\r", "\\\r", "\n", "\\\n")
	return r.Replace(s)
}

func ffNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
