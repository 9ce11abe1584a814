// Package llhls writes Low-Latency HLS media playlists (RFC 8216bis:
// EXT-X-PART, EXT-X-PRELOAD-HINT, EXT-X-SERVER-CONTROL with
// CAN-BLOCK-RELOAD) for fMP4 segments that are uploaded while they are
// encoded, which ffmpeg 5.1 cannot write itself.
//
// ffmpeg's dash muxer in streaming mode uploads each segment as a series of
// CMAF chunks (moof + mdat, about 0.5 s each) as they leave the encoder.
// The transcoder's relay passes those bytes to a Packager on their way to
// the origin; a Scanner finds where each chunk ends and how long it plays,
// and each chunk becomes a part of its segment's playlist entry, addressed
// as a byte range of the segment file:
//
//	#EXT-X-PART:DURATION=0.52,URI="chunk-g1p0-0-00007.m4s",BYTERANGE="75624@0",INDEPENDENT=YES
//	#EXT-X-PRELOAD-HINT:TYPE=PART,URI="chunk-g1p0-0-00007.m4s",BYTERANGE-START=75624
//	#EXT-X-RENDITION-REPORT:URI="media_1.m3u8",LAST-MSN=1764000123,LAST-PART=0
//
// The origin serves those ranges while the segment is still arriving and
// holds blocking playlist requests (_HLS_msn, _HLS_part) until the part
// asked for is listed (package origin). Players that know LL-HLS stay
// PART-HOLD-BACK (three parts) behind the live edge; others read the same
// playlist as standard HLS and stay HOLD-BACK (three segments) behind.
//
// Each segment's EXT-X-PROGRAM-DATE-TIME is the encoder's wall clock for its
// media time, from the chunks' producer reference time (prft boxes, written
// in low-latency mode), so that a player's own latency estimate counts from
// the encoder, as it does for DASH.
//
// The package holds no I/O: Publish hands each playlist version to the
// caller.
package llhls
