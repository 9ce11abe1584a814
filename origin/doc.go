// Package origin owns the HTTP origin: ffmpeg PUTs and DELETEs a live job's
// manifests and segments under /live/<job id>/..., players GET them.
// It keeps complete files in a Storage (storage.go): the filesystem under
// its root directory, or an S3 bucket, per job when a JobStorage says so;
// uploads in progress are spooled under the root whatever the Storage, and
// nothing outside it is touched locally. Who may write is decided by the
// Authorizer the caller plugs in, and which jobs are deleted by the
// Retention its Sweeper asks.
//
// HTTP contract
//
//	GET|HEAD /healthz               200 "ok"
//	GET|HEAD /live/<job>/<path>     200/206/304, 404 (Cache-Control: no-store);
//	                                416 for a range past the end
//	GET|HEAD /live/<job>/<path>.m3u8?_HLS_msn=M[&_HLS_part=P]
//	                                blocking reload: 200 when M (part P) is
//	                                there; 400 malformed or M past the live
//	                                edge + 2; 503 + Retry-After after 3
//	                                target durations (30 s at most); 404
//	PUT|POST /live/<job>/<path>     204 stored; 401 no bearer token; 403 refused;
//	                                413 over Config.MaxFileBytes; 409 path is a folder;
//	                                408 no byte for 10 s, or under 1 KiB/s over 10 s
//	DELETE   /live/<job>/<path>     204, also when the file does not exist
//	GET|HEAD /live/<job>            404 (no listings); other methods 405
//	OPTIONS  any /live/ path        204 CORS preflight (reads only)
//
// With Config.Viewers (viewers.go), reads follow the job's playback policy:
//
//	GET|HEAD /live/<job>/<path>     404 for a job that needs a viewer token
//	                                (signed, or unknown); 503 policy lookup failed
//	GET|HEAD /play/<token>/<job>/<path>
//	                                as /live/ with a valid token of the job;
//	                                403 otherwise (checked first, whatever the
//	                                job); a manifest has ViewerTokenMarker
//	                                replaced by the token
//	other methods under /play/      405 (OPTIONS: 204 preflight)
//
// Job ids match ^[A-Za-z0-9_-]{1,64}$. A path is 1–8 slash-separated names;
// ".", "..", hidden names, empty names, backslashes and control characters
// are refused with 400. Writes carry "Authorization: Bearer <upload token>":
// hls muxer -headers 'Authorization: Bearer T\r\n'; dash muxer (5.1 has no
// -headers) -http_opts 'headers=Authorization\: Bearer T'.
//
// Content-Type follows the extension (.m3u8, .mpd, .m4s/.mp4/.cmfv/.cmfa,
// .ts, .m4a, .aac, .vtt, .webm, .key, .jpg; anything else application/octet-stream).
// An .m4s/.mp4 whose path inside the job contains "audio" (any case, in a
// folder or file name) is audio/mp4, otherwise video/mp4. Manifests are
// and .jpg thumbnails are "no-cache" and carry an ETag but no Last-Modified
// (one-second resolution would answer 304 for a file rewritten within the
// same second); segments
// are "public, max-age=86400" (not immutable: a restarted transcoder could
// reuse a name); .key files "private, no-cache".
//
// Each write streams to a hidden temporary file beside its target in the
// root and is then handed to the job's Storage (renamed over the target, or
// put to S3 and removed), so a reader sees a whole old or a whole new file. A GET of
// a name that has no complete version but an upload in progress (a
// low-latency segment ffmpeg is still sending) follows the upload: chunks
// as they arrive, no Content-Length, and an aborted response if the upload
// fails. The whole upload is 200; one range bytes=a-b or bytes=a- (not
// from 0 to the end) is 206 "Content-Range: bytes a-b/*", an open end
// written as 9007199254740991 (RFC 8673, as Shaka Player asks for LL-HLS
// preload hints); it waits for byte a and ends at b or with the upload. An
// upload that ends before a byte is sent is answered from what is stored
// (416 when it is shorter than a, 404 when it failed). An upload is paced
// (pace.go; Config.UploadIdleTimeout, UploadMinRate, UploadRateWindow): one
// that stalls or trickles fails, so its readers wait no longer than it may.
// A GET of a media segment that has neither, of a job with an upload in
// progress (on the air here), waits up to 2 s for its upload to start
// (awaitEarly): low-latency players ask for the next segment by the clock or
// a preload hint, and an encoder a little behind would otherwise get them a
// 404. Any other missing name is 404 at once.
//
// An HLS playlist request with _HLS_msn (RFC 8216bis 6.2.5.2, the
// transcoder writes LL-HLS playlists) is held until a stored version has
// segment M complete, or P+1 parts of segment M when it is the one in
// progress; #EXT-X-ENDLIST answers at once. Such an answer is
// "public, max-age=<target duration>"; other query parameters (_HLS_skip)
// are ignored. Every store or removal of a file wakes its held readers.
//
// With Config.Encrypter set, the uploads of a DRM job are read whole,
// encrypted (drm.Packager: segments, and the key signalling in manifests)
// and only then stored; such an upload is not followed while in progress,
// and an Encrypter that fails or cannot answer stores nothing (500/503).
//
// With Config.Recordings (record.go), a recorded job (jobspec.Records)
// keeps its segments: ffmpeg's DELETE of a file whose name carries a run
// (ffmpeg.RunOf) is answered 204 and the file stays. Every media playlist
// and MPD it stores is indexed into recordings/<run>/ in the job's folder
// (package recording): a VOD playlist of the same name, master.m3u8 (the
// run's first master playlist), a static master.mpd, and info.json, which
// Recordings is also told. Players read them as any other file. While
// Recordings cannot answer, a job recorded before stays recorded and no
// segment is deleted. A clip
// is cut when read, never stored:
//
//	GET|HEAD /live/<job>/recordings/<run>/clips/<from>-<to>/<file>
//	                                the recording's <file> cut to the
//	                                segments overlapping [from, to) (Unix ms
//	                                of program date-time; master.m3u8 as is);
//	                                404 for an empty or malformed span
//
// A recording's storyboard (storyboard.go) is made when first read, by an
// ffmpeg the origin runs on the lowest variant's segments, and stored
// beside it; it is made again when the recording has grown since:
//
//	GET|HEAD /live/<job>/recordings/<run>/storyboard.vtt
//	                                WebVTT seek previews, cues naming
//	                                storyboard.jpg#xywh=x,y,w,h
//	GET|HEAD /live/<job>/recordings/<run>/storyboard.jpg
//	                                the sprite of 160 px tiles
//
// A deleted job's outputs are removed by the origin itself (sweep.go), not
// over HTTP: a Sweeper follows the deletions its Retention reports, and at
// start and every minute sweeps every job folder (of the default Storage,
// and of the root for jobs kept elsewhere). It removes a folder only
// when Retention answers that the job is deleted; a Retention that cannot
// answer (its store is down) removes nothing. Of a deleted job whose
// recordings are kept (RecordingRetention.RecordingsKept) it removes all
// but the recorded runs' files (recordings/<run>/ and the segments whose
// names carry the run), which go on being served, until the last
// recording is deleted or expires; then the rest.
//
// With a logger at debug level, each stored upload is logged with when its
// bytes arrived ("trace: upload stored"): the origin's part of the latency
// trace that bench/latency reads (docs/DESIGN.md).
package origin
