package jobspec

import "math"

// The manifests players load, under the job's output URL. The names are
// stable: players and the origin rely on them.
const (
	HLSMaster  = "master.m3u8"
	DASHMaster = "master.mpd"
)

// Thumbnail is the job's latest frame as a JPEG, beside its manifests. A
// job has one while it has video and no DRM: a clear picture of protected
// content would leak what the DRM protects.
const Thumbnail = "thumbnail.jpg"

// HasThumbnail reports whether a job publishes Thumbnail.
func HasThumbnail(o Output) bool { return len(o.Video_outputs) > 0 && o.Drm == nil }

// Recordings is the folder, beside a job's manifests, that holds its
// recordings: Recordings/<run>/ has each run's VOD playlists and static
// MPD over the segments the job folder keeps (docs/DESIGN.md).
const Recordings = "recordings"

// Records reports whether a job keeps its segments as recordings: unless
// it asks not to (Spec.Recording false), and not for DRM jobs, whose
// segments are encrypted at the origin under keys a recording would have
// to outlive (docs/DESIGN.md, "Recordings and clips").
func Records(s Spec) bool {
	return (s.Recording == nil || bool(*s.Recording)) && s.Output.Drm == nil
}

// LiveWindow is how many segments a live manifest lists when the job asks
// for no DVR window. Older segments are deleted from the origin by ffmpeg.
const LiveWindow = 6

// MaxTimeShift bounds Output.Time_shift_buffer_depth: four hours, as
// MediaLive's and Mux's DVR windows do.
const MaxTimeShift = 4 * 3600.0 // seconds

// WindowSegments is how many segments the job's live manifests list: enough
// to cover Output.Time_shift_buffer_depth (the DVR window players can seek
// back in), and never fewer than LiveWindow.
func WindowSegments(o Output) int {
	if o.Time_shift_buffer_depth <= 0 || o.Segment_duration <= 0 {
		return LiveWindow
	}
	return max(LiveWindow, int(math.Ceil(o.Time_shift_buffer_depth/o.Segment_duration)))
}

// ManifestNames returns the manifests a job publishes; the first is the one
// players load.
func ManifestNames(spec Spec) []string {
	o := spec.Output
	switch {
	case o.Segment_format == "cmaf" && o.Stream_type == "hls":
		return []string{HLSMaster, DASHMaster}
	case o.Segment_format == "cmaf":
		return []string{DASHMaster, HLSMaster}
	case o.Stream_type == "dash":
		return []string{DASHMaster}
	}
	return []string{HLSMaster}
}

// DASHPackaged reports whether a job's segments are packaged for DASH:
// fmp4 segments in one adaptation set per media type. dash and cmaf jobs
// are, and LL-HLS jobs, whose parts are the chunks of those segments
// (LowLatencyHLS); their HLS playlists list the same segments.
func DASHPackaged(o Output) bool {
	return o.Stream_type == "dash" || o.Segment_format == "cmaf" || LowLatencyHLS(o)
}

// LowLatencyHLS reports whether a job's HLS playlists are Low-Latency HLS
// (RFC 8216bis: EXT-X-PART, EXT-X-PRELOAD-HINT, blocking playlist reload).
// ffmpeg 5.1 writes none of it, so the transcoder writes those playlists
// itself (package llhls): the dash muxer uploads each segment as
// LowLatencyFragment-long CMAF chunks while it is encoded, and every chunk
// becomes a part, a byte range of its segment. That needs fmp4 chunks
// (fmp4 or cmaf), and chunks that reach the origin as they are, which
// encryption at the origin does not allow (it rewrites whole segments):
// low-latency HLS mpegts and DRM jobs get standard HLS with short segments
// instead (LowLatencyHLSWarning).
func LowLatencyHLS(o Output) bool {
	return bool(o.Low_latency_mode) && o.Drm == nil &&
		(o.Segment_format == "cmaf" || o.Stream_type == "hls" && o.Segment_format == "fmp4")
}

// LowLatencyHLSWarning explains, for a low-latency job whose HLS
// playlists cannot be LL-HLS, what players get instead; "" otherwise.
func LowLatencyHLSWarning(o Output) string {
	hasHLS := o.Stream_type == "hls" || o.Segment_format == "cmaf"
	if !bool(o.Low_latency_mode) || !hasHLS || LowLatencyHLS(o) {
		return ""
	}
	why := `Segment_format "mpegts" has no partial segments here (use "fmp4" or "cmaf")`
	if o.Drm != nil {
		why = "encrypted segments are written whole"
	}
	return "Output.Low_latency_mode: HLS players get standard HLS with short segments, not LL-HLS parts: " + why
}

// LowLatencyFragment is the CMAF chunk of a low-latency DASH segment, in
// seconds: the unit a player can fetch while the segment is still being
// encoded, so about the least delay DASH adds.
const LowLatencyFragment = 0.5
