package origin

import (
	"errors"
	"regexp"
	"strings"
)

var jobIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Limits on a file path inside a job's folder. The transcoder's names
// (rendition folder + numbered segment) stay far below them.
const (
	maxPathLen    = 512
	maxSegmentLen = 255 // NAME_MAX on Linux
	maxDepth      = 8
)

func validJobID(id string) bool { return jobIDPattern.MatchString(id) }

// validFilePath accepts a slash-separated relative path that stays inside the
// job's folder and names no hidden file. Hidden names are reserved: the
// origin's own temporary files start with a dot, and readers must never see
// them. os.Root enforces containment again below this check.
func validFilePath(p string) error {
	if p == "" {
		return errors.New("missing file name")
	}
	if len(p) > maxPathLen {
		return errors.New("path too long")
	}
	if strings.Count(p, "/") >= maxDepth {
		return errors.New("path too deep")
	}
	for seg := range strings.SplitSeq(p, "/") {
		if err := validSegment(seg); err != nil {
			return err
		}
	}
	return nil
}

func validSegment(seg string) error {
	switch {
	case seg == "":
		return errors.New("empty path segment")
	case seg[0] == '.':
		return errors.New("hidden or relative path segment")
	case len(seg) > maxSegmentLen:
		return errors.New("path segment too long")
	}
	for i := 0; i < len(seg); i++ {
		if c := seg[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return errors.New("control character or backslash in path")
		}
	}
	return nil
}
