package origin

import (
	"context"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// upload is one PUT in progress. A GET of a name that has no complete
// version yet follows the upload as it grows and ends with it: a low-latency
// player gets a segment's first chunks while ffmpeg is still encoding the
// rest. A name that has a complete version (a manifest being replaced) is
// served whole from that version, so atomic replacement still holds.
type upload struct {
	tmp string // the temporary file the writer fills, inside the root

	mu   sync.Mutex
	size int64 // bytes written to tmp so far
	// steps, when the uploads are traced, are the sizes the upload reached
	// and when, as [bytes, Unix ms] (the latency trace, traceStored).
	steps   [][2]int64
	trace   bool
	done    bool
	failed  bool
	changed chan struct{} // made by a waiting reader, closed at the next change
}

// state returns a snapshot and a channel closed at the next change.
func (u *upload) state() (size int64, done, failed bool, changed <-chan struct{}) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.changed == nil {
		u.changed = make(chan struct{})
	}
	return u.size, u.done, u.failed, u.changed
}

func (u *upload) grow(n int64) {
	u.mu.Lock()
	u.size += n
	if u.trace {
		u.steps = append(u.steps, [2]int64{u.size, time.Now().UnixMilli()})
	}
	u.wakeLocked()
	u.mu.Unlock()
}

func (u *upload) finish(ok bool) {
	u.mu.Lock()
	u.done, u.failed = true, !ok
	u.wakeLocked()
	u.mu.Unlock()
}

// wakeLocked wakes readers. With nobody waiting it allocates nothing, so a
// plain upload pays one mutex per chunk.
func (u *upload) wakeLocked() {
	if u.changed != nil {
		close(u.changed)
		u.changed = nil
	}
}

// uploads indexes the uploads in progress by name.
type uploads struct {
	mu      sync.Mutex
	byName  map[string]*upload
	trace   bool    // keep each upload's steps
	started changes // readers waiting for an upload of a name to start (early)
}

func (us *uploads) start(name, tmp string) *upload {
	u := &upload{tmp: tmp, trace: us.trace}
	us.mu.Lock()
	if us.byName == nil {
		us.byName = make(map[string]*upload)
	}
	us.byName[name] = u // the latest of concurrent writers is followed
	us.mu.Unlock()
	us.started.notify(name)
	return u
}

// jobUploading reports whether an upload of jobID is in progress: the job
// is on the air at this origin.
func (us *uploads) jobUploading(jobID string) bool {
	prefix := jobID + "/"
	us.mu.Lock()
	defer us.mu.Unlock()
	for name := range us.byName {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// end settles u. Call it after the rename, so a reader that misses the
// upload finds the complete file.
func (us *uploads) end(name string, u *upload, ok bool) {
	u.finish(ok)
	us.mu.Lock()
	defer us.mu.Unlock()
	if us.byName[name] == u {
		delete(us.byName, name)
	}
}

func (us *uploads) lookup(name string) *upload {
	us.mu.Lock()
	defer us.mu.Unlock()
	return us.byName[name]
}

// liveLastByte stands for "until the end" in a range of an upload in
// progress: 2^53-1, the largest integer a JavaScript number holds exactly.
// Shaka Player asks bytes=a-9007199254740991 for an open-ended preload
// hint, and RFC 8673 answers ranges of live content with the same number.
const liveLastByte = 1<<53 - 1

// span is what a reader of an upload in progress gets: bytes [from, to).
type span struct {
	from, to int64
	partial  bool // 206 with Content-Range bytes from-(to-1)/*
}

// liveSpan reads the Range of a request for an upload in progress. One
// range that starts past 0 or ends early is served 206; anything else (no
// Range, bytes=0-, several ranges, a suffix, an If-Range that a file still
// growing cannot match) gets the whole upload, which HTTP allows.
func (s *Server) liveSpan(r *http.Request) span {
	first, last, ok := parseRange(r.Header.Get("Range"))
	if !ok || r.Header.Get("If-Range") != "" || first == 0 && last >= min(liveLastByte, s.maxBytes-1) {
		return span{to: math.MaxInt64}
	}
	return span{from: first, to: last + 1, partial: true}
}

// parseRange reads one "bytes=first-last" or "bytes=first-" range; an open
// end, or one past liveLastByte, is liveLastByte.
func parseRange(h string) (first, last int64, ok bool) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return 0, 0, false
	}
	a, b, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, 0, false
	}
	if first, ok = parseCount(a); !ok {
		return 0, 0, false
	}
	last = liveLastByte
	if b != "" {
		if last, ok = parseCount(b); !ok {
			return 0, 0, false
		}
	}
	last = min(last, liveLastByte)
	return first, last, first <= last
}

// parseCount reads a non-negative decimal integer, without the sign
// strconv would accept.
func parseCount(s string) (int64, bool) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// follow streams upload u of name to a reader as it grows: the whole upload
// (200) or the span the Range asks for (206), flushing what arrives, until
// the span or the upload ends. It returns false, having written nothing,
// when the upload ended before anything was sent (its temporary file is
// renamed into place, or the upload failed): the caller then serves what
// is stored, ranges and 416 included. A failed upload aborts a response
// under way, so the player sees an error and retries instead of taking a
// truncated segment for a whole one.
func (s *Server) follow(w http.ResponseWriter, r *http.Request, name string, u *upload) bool {
	f, err := s.root.Open(u.tmp)
	if err != nil {
		return false
	}
	defer f.Close()
	sp := s.liveSpan(r)
	size, ended, err := firstByte(r.Context(), u, sp)
	switch {
	case err != nil:
		return true // the client left
	case ended:
		return false
	}
	writeLiveHeader(w, name, sp, size)
	if r.Method != http.MethodHead {
		s.stream(w, r, f, u, sp)
	}
	return true
}

// firstByte waits until the first byte of sp has arrived; the whole upload
// does not wait, as its status cannot change. ended reports that the upload
// ended first.
func firstByte(ctx context.Context, u *upload, sp span) (size int64, ended bool, err error) {
	for {
		size, done, _, changed := u.state()
		switch {
		case done:
			return size, true, nil
		case size > sp.from || !sp.partial:
			return size, false, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return 0, false, ctx.Err()
		}
	}
}

// writeLiveHeader answers for sp of an upload that holds size bytes so far.
// The length is only known when a closed range has wholly arrived.
func writeLiveHeader(w http.ResponseWriter, name string, sp span, size int64) {
	kind := classify(name)
	h := w.Header()
	h.Set("Content-Type", kind.contentType)
	h.Set("Cache-Control", kind.cacheControl)
	h.Set("X-Content-Type-Options", "nosniff")
	if !sp.partial {
		w.WriteHeader(http.StatusOK)
		return
	}
	h.Set("Content-Range", "bytes "+strconv.FormatInt(sp.from, 10)+"-"+strconv.FormatInt(sp.to-1, 10)+"/*")
	if size >= sp.to {
		h.Set("Content-Length", strconv.FormatInt(sp.to-sp.from, 10))
	} else {
		// The body may end before the range claimed (an open-ended preload
		// hint, RFC 8673): no cache may keep it for that range.
		h.Set("Cache-Control", "no-store")
	}
	w.WriteHeader(http.StatusPartialContent)
}

// stream sends sp of upload u, read from its temporary file f, as the bytes
// arrive, until the span or the upload ends or the client leaves.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, f io.ReaderAt, u *upload, sp span) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	rc := http.NewResponseController(w)
	for pos := sp.from; ; {
		size, done, failed, changed := u.state()
		if failed {
			panic(http.ErrAbortHandler)
		}
		n, err := s.sendRange(w, f, pos, min(size, sp.to), *bp)
		pos += n
		if err != nil {
			panic(http.ErrAbortHandler) // never end a short body cleanly
		}
		if pos >= sp.to || done && pos >= size {
			return
		}
		_ = rc.Flush()
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		}
	}
}

// sendRange copies f[from:to] to w through buf.
func (s *Server) sendRange(w io.Writer, f io.ReaderAt, from, to int64, buf []byte) (int64, error) {
	var sent int64
	for from+sent < to {
		chunk := buf[:min(int64(len(buf)), to-from-sent)]
		n, rerr := f.ReadAt(chunk, from+sent)
		if n > 0 {
			nw, werr := w.Write(chunk[:n])
			sent += int64(nw)
			s.bytesOut.Add(int64(nw))
			if werr != nil {
				return sent, werr
			}
		}
		if rerr != nil && (rerr != io.EOF || n < len(chunk)) {
			return sent, rerr
		}
	}
	return sent, nil
}
