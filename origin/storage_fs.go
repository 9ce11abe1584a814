package origin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"syscall"
)

// fsStorage keeps files under the origin's root, which is also the spool,
// so a Put is a rename: atomic, and as fast as the upload.
type fsStorage struct{ root *os.Root }

func (s fsStorage) Put(_ context.Context, _ *os.Root, tmp, name string) error {
	return s.root.Rename(tmp, name)
}

func (s fsStorage) Open(_ context.Context, name string) (*Object, error) {
	f, err := s.root.Open(name)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Object{Content: f, Size: fi.Size(), ModTime: fi.ModTime(), ETag: fileETag(fi), close: f.Close}, nil
}

func (s fsStorage) Delete(_ context.Context, name string) error {
	fi, err := s.root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		return nil
	case err != nil:
		return err
	case fi.IsDir():
		return errIsFolder
	}
	if err := s.root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// DeletePrefix removes a folder: prefix is "<job id>/".
func (s fsStorage) DeletePrefix(_ context.Context, prefix string) error {
	var err error
	for range 3 { // a racing write can refill a folder between scan and rmdir
		if err = s.root.RemoveAll(path.Clean(prefix)); err == nil {
			return nil
		}
	}
	return err
}

func (s fsStorage) Folders(context.Context) ([]Folder, error) {
	entries, err := fs.ReadDir(s.root.FS(), ".")
	if err != nil {
		return nil, err
	}
	var out []Folder
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if fi, err := e.Info(); err == nil {
			out = append(out, Folder{Name: e.Name(), ModTime: fi.ModTime()})
		}
	}
	return out, nil
}

func (s fsStorage) List(_ context.Context, prefix string) ([]StoredFile, error) {
	var out []StoredFile
	err := fs.WalkDir(s.root.FS(), path.Clean(prefix), func(name string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && !isTempName(d.Name()) && d.Name() != storageMarker {
			if fi, err := d.Info(); err == nil {
				out = append(out, StoredFile{Name: name, Size: fi.Size(), ModTime: fi.ModTime()})
			}
		}
		return nil
	})
	return out, err
}

// fileETag changes whenever the file is replaced: every write renames a new
// inode in. The inode is part of it because file times are only as fine as
// the kernel's clock tick, and two versions of a manifest can share a size.
func fileETag(fi fs.FileInfo) string {
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	return `"` + strconv.FormatUint(ino, 36) + "-" +
		strconv.FormatInt(fi.ModTime().UnixNano(), 36) + "-" +
		strconv.FormatInt(fi.Size(), 36) + `"`
}
