package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// copyBufSize is large enough that a chunked segment upload costs few
// syscalls, small enough that many concurrent uploads stay cheap.
const copyBufSize = 64 << 10

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// put stores the request body as name, atomically. It answers 204 on success
// (ffmpeg ignores the status of its writes; the empty body keeps its
// persistent connection in step).
func (s *Server) put(w http.ResponseWriter, r *http.Request, jobID, name string) {
	if r.ContentLength > s.maxBytes {
		httpError(w, "file too large", http.StatusRequestEntityTooLarge)
		return
	}
	if prot, ok := s.protected(w, r, jobID); !ok || prot {
		if prot {
			s.putProtected(w, r, jobID, name)
		}
		return
	}
	paced := s.paced(w, http.MaxBytesReader(w, r.Body, s.maxBytes))
	body := &bodyReader{r: paced}
	n, err := s.store(r.Context(), name, body)
	paced.done()
	s.bytesIn.Add(n)
	if err == nil {
		s.record(r.Context(), jobID, name)
	}
	s.answerStore(w, jobID, name, body, err)
}

// answerStore answers a PUT after store returned err.
func (s *Server) answerStore(w http.ResponseWriter, jobID, name string, body *bodyReader, err error) {
	if err == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		httpError(w, "file too large", http.StatusRequestEntityTooLarge)
	case errors.Is(err, errUploadTooSlow):
		s.log.Info("origin: upload timed out", "job_id", jobID, "path", name, "err", err)
		answerTooSlow(w)
	case body.err != nil:
		s.log.Info("origin: upload interrupted", "job_id", jobID, "path", name, "err", err)
		httpError(w, "upload interrupted", http.StatusBadRequest)
	case errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EEXIST):
		httpError(w, "path conflicts with a directory", http.StatusConflict)
	case errors.Is(err, errStorageUnknown):
		s.log.Warn("origin: storage of job unknown", "job_id", jobID, "err", err)
		httpError(w, "storage unavailable", http.StatusServiceUnavailable)
	default:
		s.log.Error("origin: store failed", "job_id", jobID, "path", name, "err", err)
		httpError(w, "store failed", http.StatusInternalServerError)
	}
}

// store streams body into a hidden temporary file in the spool, beside
// name, and hands it to the job's Storage, which makes it name's content
// atomically (a rename on the filesystem, an upload to S3), so a reader sees
// the old file or the new one, never a part. While it runs, readers of a
// name with no complete version follow the upload (inflight.go). No fsync:
// a live segment that a crash loses is replaced within seconds, and fsync
// per segment would cost more than the stream is worth.
func (s *Server) store(ctx context.Context, name string, body io.Reader) (int64, error) {
	st, err := s.storageOf(ctx, jobOf(name))
	if err != nil {
		return 0, err
	}
	dir, base := path.Split(name)
	if err := s.root.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("create folder %s: %w", dir, err)
	}
	f, tmp, err := s.createTemp(dir, base)
	if err != nil {
		return 0, err
	}
	up := s.uploads.start(name, tmp)
	n, err := copyBody(f, body, up)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", tmp, cerr)
	}
	if err == nil {
		err = st.Put(ctx, s.root, tmp, name)
	}
	s.uploads.end(name, up, err == nil)
	if err != nil {
		_ = s.root.Remove(tmp)
		return n, fmt.Errorf("store %s: %w", name, err)
	}
	if up.trace {
		s.traceStored(name, up)
	}
	s.changes.notify(name)
	return n, nil
}

// traceStored logs, for the latency trace (bench/latency), when each byte
// of an upload was at the origin, readable by players following it, and
// when the whole file was stored. Only with a logger at debug level.
func (s *Server) traceStored(name string, up *upload) {
	up.mu.Lock()
	steps := up.steps
	up.mu.Unlock()
	s.log.Debug("trace: upload stored", "job_id", jobOf(name), "path", name,
		"steps", steps, "stored_ms", time.Now().UnixMilli())
}

// createTemp opens a new hidden file in dir. Hidden names are refused by
// validFilePath, so readers and writers can never address it.
func (s *Server) createTemp(dir, base string) (*os.File, string, error) {
	for range 3 {
		tmp := dir + "." + base + "." + strconv.FormatUint(rand.Uint64(), 36) + ".tmp"
		f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("create temp for %s%s: %w", dir, base, err)
		}
		return f, tmp, nil
	}
	return nil, "", fmt.Errorf("create temp for %s%s: name collisions", dir, base)
}

// removeStaleTemps removes the temporary files of uploads an earlier
// process left when it died mid-upload. At start no upload is in flight,
// so every temporary file under the root is stale; the origin owns its root
// alone. Failures are logged: a leftover file costs only disk.
func (s *Server) removeStaleTemps() {
	removed := 0
	_ = fs.WalkDir(s.root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable folder: skip it
		}
		if d.Type().IsRegular() && isTempName(d.Name()) {
			if err := s.root.Remove(name); err != nil {
				s.log.Warn("origin: remove stale temporary file", "path", name, "err", err)
				return nil
			}
			removed++
		}
		return nil
	})
	if removed > 0 {
		s.log.Info("origin: removed temporary files of interrupted uploads", "files", removed)
	}
}

// isTempName matches createTemp's names; validFilePath refuses them all.
func isTempName(base string) bool {
	return strings.HasPrefix(base, ".") && strings.HasSuffix(base, ".tmp")
}

// copyBody streams body to f through a pooled buffer, so chunked uploads
// are never held in memory whole, and tells followers of up about each chunk.
func copyBody(f *os.File, body io.Reader, up *upload) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var n int64
	for {
		nr, rerr := body.Read(buf)
		if nr > 0 {
			nw, werr := f.Write(buf[:nr])
			n += int64(nw)
			up.grow(int64(nw))
			if werr != nil {
				return n, werr
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// bodyReader remembers a read error so a client that went away is told
// apart from a full disk.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// delete removes one file. A missing file is 204 too: ffmpeg's cleanup and
// retries are idempotent, and a 404 would only add noise to its log.
func (s *Server) delete(w http.ResponseWriter, r *http.Request, jobID, name string) {
	st, err := s.storageOf(r.Context(), jobID)
	if err == nil {
		err = st.Delete(r.Context(), name)
	}
	switch {
	case errors.Is(err, errIsFolder):
		httpError(w, "is a folder", http.StatusConflict)
		return
	case err != nil:
		s.log.Error("origin: delete failed", "job_id", jobID, "path", name, "err", err)
		httpError(w, "delete failed", http.StatusInternalServerError)
		return
	}
	s.changes.notify(name) // blocked playlist readers get their 404 now
	w.WriteHeader(http.StatusNoContent)
}

// RemoveJob removes every output of a job. Removing a job that has no
// outputs succeeds. Revoke the job's upload token first: a write that is
// still in flight would otherwise recreate the folder (a Sweeper removes
// such a leftover at a later sweep).
func (s *Server) RemoveJob(ctx context.Context, jobID string) error {
	if !validJobID(jobID) {
		return fmt.Errorf("remove outputs of job %q: invalid job id", jobID)
	}
	defer s.changes.notifyJob(jobID)
	st, err := s.storageOf(ctx, jobID)
	if err == nil {
		err = st.DeletePrefix(ctx, jobID+"/")
	}
	if err == nil { // the spool folder (and its marker) last
		err = s.root.RemoveAll(jobID)
	}
	if err != nil {
		return fmt.Errorf("remove outputs of job %s: %w", jobID, err)
	}
	s.jobStorages.forget(jobID)
	s.log.Info("origin: removed job outputs", "job_id", jobID)
	return nil
}
