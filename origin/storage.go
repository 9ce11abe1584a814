package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Storage keeps the origin's complete files, named "<job id>/<path>". Two
// backends implement it: the filesystem under Config.Root (NewFSStorage,
// the default) and an S3 bucket (NewS3Storage). Uploads are always spooled
// to a hidden file in the local spool root first (Config.Root), so readers
// follow an upload in progress from local disk whatever the backend; Put
// then makes the complete spooled file the content of its name.
type Storage interface {
	// Put makes the complete file tmp, a name in spool, the content of
	// name, atomically: a reader sees the old version or the new one. On
	// success tmp is gone; on error the caller removes it.
	Put(ctx context.Context, spool *os.Root, tmp, name string) error
	// Open returns the stored version of name; an error wrapping
	// fs.ErrNotExist when there is none.
	Open(ctx context.Context, name string) (*Object, error)
	// Delete removes name; a missing name is no error, a folder is
	// errIsFolder.
	Delete(ctx context.Context, name string) error
	// DeletePrefix removes every file whose name starts with prefix.
	DeletePrefix(ctx context.Context, prefix string) error
	// Folders lists the top-level folders (job ids) with the time of their
	// newest write.
	Folders(ctx context.Context) ([]Folder, error)
	// List returns the files under prefix, a folder ("<job id>/" or deeper,
	// ending in "/"), in no particular order; none is no error.
	List(ctx context.Context, prefix string) ([]StoredFile, error)
}

// Object is one stored file opened for reading.
type Object struct {
	// Content reads the file; on the filesystem an *os.File, so segments
	// still go out with sendfile.
	Content io.ReadSeeker
	Size    int64
	ModTime time.Time
	ETag    string // quoted; changes whenever the file is replaced
	close   func() error
}

// Close releases the object.
func (o *Object) Close() error {
	if o.close == nil {
		return nil
	}
	return o.close()
}

// Folder is one job's folder in a Storage.
type Folder struct {
	Name    string
	ModTime time.Time // newest write in it
}

// StoredFile is one stored file, as List gives it.
type StoredFile struct {
	Name    string // "<job id>/<path>"
	Size    int64
	ModTime time.Time
}

// errIsFolder is Delete's answer for a name that is a folder.
var errIsFolder = errors.New("is a folder")

// errStorageUnknown wraps a JobStorage that cannot answer: 503.
var errStorageUnknown = errors.New("storage of job unknown")

// JobStorage chooses where a job's outputs are kept. An error means the
// choice is unknown now (the store is down); the request gets 503.
type JobStorage interface {
	// StorageOf returns nil for the origin's default Storage, or another
	// (the bucket of the job's Output.S3_output) and a key that names it.
	StorageOf(ctx context.Context, jobID string) (st Storage, key string, err error)
	// Reopen returns the Storage a key of StorageOf names, for a job whose
	// record may be gone.
	Reopen(ctx context.Context, key string) (Storage, error)
}

// storageMarker, in a job's spool folder, names the Storage a job was
// written to when it is not the default, so its outputs are found (read,
// measured, removed) after its record is gone. Hidden: never addressable over HTTP.
const storageMarker = ".storage"

// jobStorages remembers each job's Storage: a job's spec never changes.
type jobStorages struct {
	choose JobStorage // nil: every job in the default
	mu     sync.Mutex
	byJob  map[string]Storage
}

// storageOf returns the Storage of jobID's outputs: the one its spool
// folder's marker names (a job whose record is gone may still be read: its
// recordings kept), or else the one JobStorage chooses, marked then.
func (s *Server) storageOf(ctx context.Context, jobID string) (Storage, error) {
	js := &s.jobStorages
	if js.choose == nil {
		return s.storage, nil
	}
	js.mu.Lock()
	st, ok := js.byJob[jobID]
	js.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := s.chooseStorage(ctx, jobID)
	if err != nil {
		return nil, err
	}
	js.mu.Lock()
	defer js.mu.Unlock()
	if js.byJob == nil || len(js.byJob) >= maxAuthEntries {
		js.byJob = make(map[string]Storage)
	}
	js.byJob[jobID] = st
	return st, nil
}

// forget drops a removed job's choice.
func (js *jobStorages) forget(jobID string) {
	js.mu.Lock()
	delete(js.byJob, jobID)
	js.mu.Unlock()
}

// markStorage records key, the job's Storage, in its spool folder.
func (s *Server) markStorage(jobID, key string) error {
	if err := s.root.MkdirAll(jobID, 0o755); err != nil {
		return fmt.Errorf("mark storage of job %s: %w", jobID, err)
	}
	if b, err := s.root.ReadFile(jobID + "/" + storageMarker); err == nil && string(b) == key {
		return nil
	}
	return s.root.WriteFile(jobID+"/"+storageMarker, []byte(key), 0o644)
}

// chooseStorage is the Storage a job's spool folder names, reopened from
// its key; without a marker, the one JobStorage chooses (marked then).
func (s *Server) chooseStorage(ctx context.Context, jobID string) (Storage, error) {
	js := &s.jobStorages
	key, err := s.root.ReadFile(jobID + "/" + storageMarker)
	switch {
	case err == nil:
		return js.choose.Reopen(ctx, string(key))
	case !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR):
		return nil, err
	}
	st, key2, err := js.choose.StorageOf(ctx, jobID)
	if err != nil {
		return nil, fmt.Errorf("%w: job %s: %w", errStorageUnknown, jobID, err)
	}
	if st == nil {
		return s.storage, nil
	}
	return st, s.markStorage(jobID, key2)
}

// open opens the stored version of name in its job's Storage.
func (s *Server) open(ctx context.Context, name string) (*Object, error) {
	st, err := s.storageOf(ctx, jobOf(name))
	if err != nil {
		return nil, err
	}
	return st.Open(ctx, name)
}

// readStored reads the stored version of name whole.
func (s *Server) readStored(ctx context.Context, name string) ([]byte, error) {
	o, err := s.open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	return io.ReadAll(o.Content)
}

// JobBytes is the size of a job's stored outputs, in whichever Storage
// holds them.
func (s *Server) JobBytes(ctx context.Context, jobID string) (int64, error) {
	if !validJobID(jobID) {
		return 0, fmt.Errorf("size of job %q: invalid job id", jobID)
	}
	st, err := s.storageOf(ctx, jobID)
	if err != nil {
		return 0, err
	}
	return storedBytes(ctx, st, jobID+"/")
}

// storedBytes is the bytes st holds under prefix.
func storedBytes(ctx context.Context, st Storage, prefix string) (int64, error) {
	files, err := st.List(ctx, prefix)
	var n int64
	for _, f := range files {
		n += f.Size
	}
	return n, err
}

// jobFolders lists the job folders of the default Storage and, when that is
// not the spool, of the spool: the jobs kept in other Storages, and uploads
// cut short. A folder in both counts once, with its newest time.
func (s *Server) jobFolders(ctx context.Context) ([]Folder, error) {
	folders, err := s.storage.Folders(ctx)
	if err != nil {
		return nil, err
	}
	if _, ok := s.storage.(fsStorage); ok {
		return folders, nil
	}
	spooled, err := fsStorage{s.root}.Folders(ctx)
	if err != nil {
		return nil, err
	}
	at := make(map[string]int, len(folders))
	for i, f := range folders {
		at[f.Name] = i
	}
	for _, f := range spooled {
		if i, ok := at[f.Name]; !ok {
			folders = append(folders, f)
		} else if f.ModTime.After(folders[i].ModTime) {
			folders[i].ModTime = f.ModTime
		}
	}
	return folders, nil
}

func jobOf(name string) string {
	id, _, _ := strings.Cut(name, "/")
	return id
}
