package origin

import (
	"io"
	"net/http"
	"sync"
)

// upload is one PUT in progress. A GET of a name that has no complete
// version yet follows the upload as it grows and ends with it: a low-latency
// player gets a segment's first chunks while ffmpeg is still encoding the
// rest. A name that has a complete version (a manifest being replaced) is
// served whole from that version, so atomic replacement still holds.
type upload struct {
	tmp string // the temporary file the writer fills, inside the root

	mu      sync.Mutex
	size    int64 // bytes written to tmp so far
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
	mu     sync.Mutex
	byName map[string]*upload
}

func (us *uploads) start(name, tmp string) *upload {
	u := &upload{tmp: tmp}
	us.mu.Lock()
	defer us.mu.Unlock()
	if us.byName == nil {
		us.byName = make(map[string]*upload)
	}
	us.byName[name] = u // the latest of concurrent writers is followed
	return u
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

// follow streams upload u of name to a reader until the upload ends. It
// returns false, having written nothing, when the upload's temporary file
// is already gone (renamed into place): the caller then serves the file.
// A failed upload aborts the response, so the player sees an error and
// retries instead of taking a truncated segment for a whole one.
func (s *Server) follow(w http.ResponseWriter, r *http.Request, name string, u *upload) bool {
	f, err := s.root.Open(u.tmp)
	if err != nil {
		return false
	}
	defer f.Close()
	kind := classify(name)
	h := w.Header()
	h.Set("Content-Type", kind.contentType)
	h.Set("Cache-Control", kind.cacheControl)
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK) // no length, no ranges: the size is not known yet
	if r.Method == http.MethodHead {
		return true
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	rc := http.NewResponseController(w)
	var sent int64
	for {
		size, done, failed, changed := u.state()
		if failed {
			panic(http.ErrAbortHandler)
		}
		n, err := s.sendRange(w, f, sent, size, *bp)
		sent += n
		if err != nil {
			panic(http.ErrAbortHandler) // never end a short body cleanly
		}
		if done && sent >= size {
			return true
		}
		_ = rc.Flush()
		select {
		case <-changed:
		case <-r.Context().Done():
			return true
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
