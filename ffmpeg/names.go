package ffmpeg

import (
	"strconv"
	"strings"
)

// File names written under Target.OutputURL. They are stable: players and
// the origin may rely on them.
//
//	master.m3u8                     HLS master playlist (hls; cmaf)
//	master.mpd                      DASH manifest (dash; cmaf)
//	<label>.m3u8                    HLS variant playlist, one per rendition
//	                                (hls muxer; the audio group's playlist is
//	                                named after the audio label)
//	media_<n>.m3u8                  HLS media playlist of representation n
//	                                (cmaf: written by ffmpeg's dash muxer;
//	                                LL-HLS: by the transcoder, see jobspec.LowLatencyHLS)
//	<label>-<run>-<seq>.ts|.m4s     HLS segment; <seq> is the media sequence
//	<label>-<run>-init.mp4          HLS fmp4 initialisation segment
//	init-<run>-<n>.mp4              DASH/CMAF initialisation segment
//	chunk-<run>-<n>-<number>.m4s    DASH/CMAF media segment
//
// <run> is "g<Generation>p<Period>": every run of ffmpeg writes segments
// under names no earlier run used, so a restart never overwrites anything
// already published. HLS media sequences start at the Unix time of the run
// (hls_start_number_source epoch), so they keep increasing across restarts
// and re-placements, and the first segment of each run carries
// EXT-X-DISCONTINUITY (discont_start). ffmpeg's dash muxer numbers from 1 in
// each run; the run in the name keeps those files apart and the new MPD has a
// new availabilityStartTime.

// DASHFile is what the name of a file the dash muxer writes says (see the
// names above): init-<run>-<n>.mp4 or chunk-<run>-<n>-<number>.m4s.
type DASHFile struct {
	Run            string // g<Generation>p<Period>
	Representation int
	Init           bool
}

// ParseDASHFile reads a name the dash muxer writes; ok is false for any
// other name.
func ParseDASHFile(name string) (f DASHFile, ok bool) {
	var rest string
	switch {
	case strings.HasPrefix(name, dashInitPrefix) && strings.HasSuffix(name, dashInitExt):
		f.Init, rest = true, strings.TrimSuffix(strings.TrimPrefix(name, dashInitPrefix), dashInitExt)
	case strings.HasPrefix(name, dashChunkPrefix) && strings.HasSuffix(name, dashChunkExt):
		rest = strings.TrimSuffix(strings.TrimPrefix(name, dashChunkPrefix), dashChunkExt)
		i := strings.LastIndexByte(rest, '-')
		if i < 0 || !allDigits(rest[i+1:]) {
			return DASHFile{}, false
		}
		rest = rest[:i]
	default:
		return DASHFile{}, false
	}
	run, rep, found := strings.Cut(rest, "-")
	n, err := strconv.Atoi(rep)
	if !found || err != nil || n < 0 || !validRun(run) {
		return DASHFile{}, false
	}
	return DASHFile{Run: run, Representation: n, Init: f.Init}, true
}

// DASHInitName is the initialisation segment of representation n in run.
func DASHInitName(run string, n int) string {
	return dashInitPrefix + run + "-" + strconv.Itoa(n) + dashInitExt
}

// The parts of the dash muxer's file names, for dashArgs to write and
// ParseDASHFile to read.
const (
	dashInitPrefix, dashInitExt   = "init-", ".mp4"
	dashChunkPrefix, dashChunkExt = "chunk-", ".m4s"
	hlsMediaPrefix, hlsMediaExt   = "media_", ".m3u8"
	hlsFMP4Ext, hlsInitSuffix     = ".m4s", "-init.mp4"
)

// HLSMediaPlaylist is the HLS media playlist of representation n of a
// dash-muxer job.
func HLSMediaPlaylist(n int) string { return hlsMediaPrefix + strconv.Itoa(n) + hlsMediaExt }

// ParseHLSMediaPlaylist returns n for the name HLSMediaPlaylist(n).
func ParseHLSMediaPlaylist(name string) (int, bool) {
	digits, ok := strings.CutPrefix(name, hlsMediaPrefix)
	digits, ok2 := strings.CutSuffix(digits, hlsMediaExt)
	if !ok || !ok2 || !allDigits(digits) {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	return n, err == nil
}

// HLSInitName is the fmp4 initialisation segment of the hls muxer's
// variant label in run.
func HLSInitName(label, run string) string { return label + "-" + run + hlsInitSuffix }

// InitSegmentFor names the initialisation segment of an fmp4 media
// segment either muxer writes; ok is false for any other name.
//
//	chunk-<run>-<n>-<number>.m4s  →  init-<run>-<n>.mp4     (dash muxer)
//	<label>-<run>-<seq>.m4s       →  <label>-<run>-init.mp4 (hls muxer)
func InitSegmentFor(segment string) (string, bool) {
	if f, ok := ParseDASHFile(segment); ok && !f.Init {
		return DASHInitName(f.Run, f.Representation), true
	}
	stem, ok := strings.CutSuffix(segment, hlsFMP4Ext)
	i := strings.LastIndexByte(stem, '-')
	if !ok || i < 0 || !allDigits(stem[i+1:]) {
		return "", false
	}
	j := strings.LastIndexByte(stem[:i], '-')
	if j <= 0 || !validRun(stem[j+1:i]) {
		return "", false
	}
	return HLSInitName(stem[:j], stem[j+1:i]), true
}

func validRun(run string) bool {
	g, p, ok := strings.Cut(strings.TrimPrefix(run, "g"), "p")
	return ok && strings.HasPrefix(run, "g") && allDigits(g) && allDigits(p)
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// RunOf reads the run out of the name of a segment or initialisation
// segment either muxer writes (see the names above); ok is false for any
// other name.
func RunOf(name string) (run string, ok bool) {
	if f, ok := ParseDASHFile(name); ok {
		return f.Run, true
	}
	stem := name
	if i := strings.LastIndexByte(stem, '.'); i > 0 {
		stem = stem[:i]
	}
	parts := strings.Split(stem, "-")
	if n := len(parts); n >= 3 && parts[0] != "" && validRun(parts[n-2]) && (allDigits(parts[n-1]) || parts[n-1] == "init") {
		return parts[n-2], true
	}
	return "", false
}
