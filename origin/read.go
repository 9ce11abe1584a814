package origin

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/ezlivestreaming/ezlive/recording"
)

// Cache-Control values. Manifests change every segment. Segments are not
// marked immutable: after a restart the transcoder could reuse a name.
const (
	cacheManifest = "no-cache"
	cacheSegment  = "public, max-age=86400"
	cacheKey      = "private, no-cache"
)

// get serves one file with ServeContent (Range, HEAD, conditional
// requests), an upload in progress as it grows (inflight.go), or a blocking
// playlist reload (blocking.go).
func (s *Server) get(w http.ResponseWriter, r *http.Request, name string) {
	if s.getBlocking(w, r, name) || s.getClip(w, r, name) || !s.prepareStoryboard(w, r, name) {
		return
	}
	o, err := s.open(r.Context(), name)
	if errors.Is(err, fs.ErrNotExist) {
		if up := s.uploads.lookup(name); up != nil && s.follow(w, r, name, up) {
			return
		}
		if s.awaitEarly(r.Context(), name) {
			if up := s.uploads.lookup(name); up != nil && s.follow(w, r, name, up) {
				return
			}
		}
		o, err = s.open(r.Context(), name) // the upload ended meanwhile
	}
	if err != nil {
		s.openFailed(w, name, err)
		return
	}
	defer o.Close()
	s.serveStored(w, r, name, o, classify(name))
}

// earlyHold bounds how long a request for a segment that does not exist
// yet waits for its upload to start. A low-latency player computes which
// segment is due from its clock (DASH's SegmentTemplate) or a playlist
// that names the next one, and asks for it as the encoder begins it; an
// encoder a little behind the clock (a busy host) would otherwise answer
// it 404, which dash.js and Shaka report as errors.
const earlyHold = 2 * time.Second

// awaitEarly waits, for a media segment of a job whose uploads are in
// progress (it is on the air here), until an upload of name starts or
// the file is stored, for earlyHold at most; it reports whether it may be
// there now. Other names, and segments of jobs not on the air, are not
// held: their 404 is at once.
func (s *Server) awaitEarly(ctx context.Context, name string) bool {
	if kind := classify(name); kind.manifest || kind.rewritten || kind.cacheControl != cacheSegment || !s.uploads.jobUploading(jobOf(name)) {
		return false
	}
	started, stored := s.uploads.started.subscribe(name), s.changes.subscribe(name)
	defer s.uploads.started.unsubscribe(name, started)
	defer s.changes.unsubscribe(name, stored)
	if s.uploads.lookup(name) != nil {
		return true // started before the subscription
	}
	t := time.NewTimer(earlyHold)
	defer t.Stop()
	select {
	case <-started:
		return true
	case <-stored:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// serveStored answers with the stored file o of name, as kind says.
func (s *Server) serveStored(w http.ResponseWriter, r *http.Request, name string, o *Object, kind fileKind) {
	h := w.Header()
	h.Set("Content-Type", kind.contentType)
	h.Set("Cache-Control", kind.cacheControl)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", o.ETag)
	modTime := o.ModTime
	if kind.rewritten {
		// Last-Modified has one-second resolution: a file rewritten
		// twice within a second would get a wrong 304. The ETag serves.
		modTime = time.Time{}
	}
	content := o.Content
	if kind.manifest {
		var err error
		if content, err = withViewerToken(r, content); err != nil {
			s.openFailed(w, name, err)
			return
		}
	}
	http.ServeContent(&countingWriter{ResponseWriter: w, n: &s.bytesOut}, r, name, modTime, content)
}

func (s *Server) openFailed(w http.ResponseWriter, name string, err error) {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		notFound(w)
		return
	}
	if errors.Is(err, errStorageUnknown) {
		s.log.Warn("origin: storage of job unknown", "path", name, "err", err)
		httpError(w, "storage unavailable", http.StatusServiceUnavailable)
		return
	}
	s.log.Error("origin: open failed", "path", name, "err", err)
	httpError(w, "read failed", http.StatusInternalServerError)
}

type fileKind struct {
	contentType  string
	cacheControl string
	manifest     bool // a manifest: a viewer's token is written into it
	rewritten    bool // rewritten in place: no Last-Modified
}

// classify picks Content-Type and Cache-Control from the file name.
//
// Audio rule: an .m4s or .mp4 file is audio/mp4 when its path inside the job
// folder contains "audio" (any case) — in the file name or a folder name.
// The transcoder names audio renditions' files after their label (default
// labels start with "audio", e.g. audio128k/seg_00001.m4s or
// init_audio128k.m4s); anything else is video/mp4.
func classify(name string) fileKind {
	ext := strings.ToLower(path.Ext(name))
	if path.Base(name) == recording.StoryboardVTT {
		// Remade when its recording grows.
		return fileKind{"text/vtt", cacheManifest, false, true}
	}
	switch ext {
	case ".m3u8":
		return fileKind{"application/vnd.apple.mpegurl", cacheManifest, true, true}
	case ".mpd":
		return fileKind{"application/dash+xml", cacheManifest, true, true}
	case ".key":
		return fileKind{"application/octet-stream", cacheKey, false, false}
	case ".jpg":
		// A thumbnail: rewritten in place every few seconds.
		return fileKind{"image/jpeg", cacheManifest, false, true}
	case ".json":
		// A recording's info.json: rewritten with every segment.
		return fileKind{"application/json", cacheManifest, false, true}
	}
	return fileKind{segmentType(name, ext), cacheSegment, false, false}
}

func segmentType(name, ext string) string {
	switch ext {
	case ".m4s", ".mp4", ".cmfv", ".cmfa":
		if ext == ".cmfa" || isAudioPath(name) {
			return "audio/mp4"
		}
		return "video/mp4"
	case ".ts":
		return "video/mp2t"
	case ".m4a":
		return "audio/mp4"
	case ".aac":
		return "audio/aac"
	case ".vtt":
		return "text/vtt"
	case ".webm":
		return "video/webm"
	}
	return "application/octet-stream"
}

// isAudioPath looks past the job id at the path inside the job folder.
func isAudioPath(name string) bool {
	_, rel, _ := strings.Cut(name, "/")
	return strings.Contains(strings.ToLower(rel), "audio")
}

// setCORS marks every response readable by any page: reads are public, and
// writes come from ffmpeg, not from browsers.
func setCORS(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "Content-Length, Content-Range, Date, ETag, Accept-Ranges, Retry-After")
}

// preflight answers a browser's CORS preflight for reads.
func preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
	allowed := "Range, If-None-Match, If-Modified-Since"
	if asked := r.Header.Get("Access-Control-Request-Headers"); asked != "" {
		allowed = asked // public, credential-free content: any header may be sent
		h.Add("Vary", "Access-Control-Request-Headers")
	}
	h.Set("Access-Control-Allow-Headers", allowed)
	h.Set("Access-Control-Max-Age", "86400")
	h.Set("Allow", "GET, HEAD, OPTIONS, PUT, POST, DELETE")
	w.WriteHeader(http.StatusNoContent)
}

// countingWriter counts body bytes for Stats.BytesOut. It keeps the
// ReaderFrom path so segments still go out with sendfile.
type countingWriter struct {
	http.ResponseWriter
	n interface{ Add(int64) int64 }
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	var err error
	if rf, ok := c.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(writerOnly{c.ResponseWriter}, r)
	}
	c.n.Add(n)
	return n, err
}

// writerOnly hides a ReadFrom method, so io.Copy cannot call back into it.
type writerOnly struct{ io.Writer }

// Unwrap lets http.ResponseController reach the connection.
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
