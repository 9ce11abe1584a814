package origin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Encrypter encrypts a DRM job's files as they are stored, so the origin
// only ever holds and serves ciphertext and encryption costs once per file,
// never per viewer (drm.Packager implements it).
type Encrypter interface {
	// Protected reports whether jobID's outputs are encrypted. An error is
	// answered 503: a DRM job's upload is never stored in the clear.
	Protected(ctx context.Context, jobID string) (bool, error)
	// Encrypt returns the files to store for one clear upload: usually the
	// upload's own ciphertext; none when the Encrypter holds it back (a
	// media segment that arrived before its init segment), and more when
	// held-back files can now be stored too.
	Encrypt(ctx context.Context, u Upload) ([]File, error)
}

// Upload is one clear file of a protected job.
type Upload struct {
	JobID string
	File  string // path inside the job's folder
	Clear []byte
	// Stored reads a file the job already stored (path inside the job).
	Stored func(file string) ([]byte, error)
}

// File is one file to store for a job.
type File struct {
	Name string // path inside the job's folder
	Data []byte
}

// protected asks the Encrypter, when there is one, whether jobID's uploads
// must be encrypted. It answers the request itself on error.
func (s *Server) protected(w http.ResponseWriter, r *http.Request, jobID string) (bool, bool) {
	if s.encrypter == nil {
		return false, true
	}
	ok, err := s.encrypter.Protected(r.Context(), jobID)
	if err != nil {
		s.log.Error("origin: drm lookup failed", "job_id", jobID, "err", err)
		httpError(w, "encryption unavailable", http.StatusServiceUnavailable)
		return false, false
	}
	return ok, true
}

// putProtected reads a DRM job's whole upload, encrypts it and stores the
// result. Readers cannot follow such an upload while it arrives: a sample
// is encrypted only once its fragment is whole.
func (s *Server) putProtected(w http.ResponseWriter, r *http.Request, jobID, name string) {
	if r.ContentLength > s.maxBytes {
		httpError(w, "file too large", http.StatusRequestEntityTooLarge)
		return
	}
	paced := s.paced(w, http.MaxBytesReader(w, r.Body, s.maxBytes))
	clear, err := io.ReadAll(paced)
	paced.done()
	s.bytesIn.Add(int64(len(clear)))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		httpError(w, "file too large", http.StatusRequestEntityTooLarge)
		return
	case errors.Is(err, errUploadTooSlow):
		s.log.Info("origin: upload timed out", "job_id", jobID, "path", name, "err", err)
		answerTooSlow(w)
		return
	case err != nil:
		s.log.Info("origin: upload interrupted", "job_id", jobID, "path", name, "err", err)
		httpError(w, "upload interrupted", http.StatusBadRequest)
		return
	}
	files, err := s.encrypter.Encrypt(r.Context(), Upload{
		JobID: jobID,
		File:  strings.TrimPrefix(name, jobID+"/"),
		Clear: clear,
		Stored: func(f string) ([]byte, error) {
			if err := validFilePath(f); err != nil {
				return nil, fmt.Errorf("read %s: %w", f, err)
			}
			return s.readStored(r.Context(), jobID+"/"+f)
		},
	})
	if err != nil {
		s.log.Error("origin: encrypt failed", "job_id", jobID, "path", name, "err", err)
		httpError(w, "encrypt failed", http.StatusInternalServerError)
		return
	}
	s.storeEncrypted(r.Context(), w, jobID, name, files)
}

// storeEncrypted stores what the Encrypter returned, in its order, and
// answers for the upload's own file (204 when it was held back).
func (s *Server) storeEncrypted(ctx context.Context, w http.ResponseWriter, jobID, name string, files []File) {
	own := &bodyReader{}
	var ownErr error
	for _, f := range files {
		if err := validFilePath(f.Name); err != nil {
			s.log.Error("origin: encrypter returned a bad name", "job_id", jobID, "path", f.Name, "err", err)
			continue
		}
		_, err := s.store(ctx, jobID+"/"+f.Name, bytes.NewReader(f.Data))
		if jobID+"/"+f.Name == name {
			ownErr = err
			continue
		}
		if err != nil {
			s.log.Error("origin: store failed", "job_id", jobID, "path", f.Name, "err", err)
		}
	}
	s.answerStore(w, jobID, name, own, ownErr)
}
