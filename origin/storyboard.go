package origin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os/exec"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/ezlivestreaming/ezlive/ffmpeg"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/recording"
)

// storyboardTimeout bounds one ffmpeg making a storyboard (key frames of
// the lowest rendition: seconds for hours of recording).
const storyboardTimeout = 2 * time.Minute

// errNoVideo: the recording has no video rendition to make a storyboard
// of, in its HLS playlists or its MPD.
var errNoVideo = fmt.Errorf("no video rendition: %w", fs.ErrNotExist)

// prepareStoryboard makes the storyboard of the recording name is in when
// name is its StoryboardVTT or StoryboardImage and it is missing or older
// than the recording; then the stored files are served as any other. ok
// is false when it answered the request itself (an error).
func (s *Server) prepareStoryboard(w http.ResponseWriter, r *http.Request, name string) (ok bool) {
	parts := strings.Split(name, "/")
	if len(parts) != 4 || parts[1] != jobspec.Recordings ||
		parts[3] != recording.StoryboardVTT && parts[3] != recording.StoryboardImage {
		return true
	}
	dir := strings.Join(parts[:3], "/") + "/"
	_, err, _ := s.storyboards.Do(dir, func() (any, error) { return nil, s.ensureStoryboard(r.Context(), dir) })
	if err != nil {
		s.log.Warn("origin: storyboard not made", "job_id", parts[0], "run", parts[2], "err", err)
		s.openFailed(w, name, err)
		return false
	}
	return true
}

// ensureStoryboard makes dir's storyboard unless the stored one was made
// from as many segments as the lowest rendition has now.
func (s *Server) ensureStoryboard(ctx context.Context, dir string) error {
	p, width, height, err := s.lowestVideo(ctx, dir)
	if err != nil {
		return err
	}
	if len(p.Segments) == 0 {
		return errNoVideo
	}
	if old, err := s.readStored(ctx, dir+recording.StoryboardVTT); err == nil {
		if n, ok := recording.StoryboardSegments(old); ok && n == len(p.Segments) {
			return nil
		}
	}
	sb := recording.PlanStoryboard(p.Duration(), len(p.Segments), width, height)
	sprite, err := s.runStoryboard(ctx, jobOf(dir), p, sb)
	if err != nil {
		return err
	}
	if _, err := s.store(ctx, dir+recording.StoryboardImage, bytes.NewReader(sprite)); err != nil {
		return err
	}
	_, err = s.store(ctx, dir+recording.StoryboardVTT, bytes.NewReader(sb.RenderVTT()))
	return err
}

// lowestVideo is the segments of dir's lowest video rendition, with its
// width and height when known: of its HLS playlists (lowestRendition), or
// for a recording with only DASH, of its MPD.
func (s *Server) lowestVideo(ctx context.Context, dir string) (recording.Playlist, int, int, error) {
	playlist, width, height, err := s.lowestRendition(ctx, dir)
	if errors.Is(err, errNoVideo) {
		b, err := s.readStored(ctx, dir+recording.DASHMaster)
		if errors.Is(err, fs.ErrNotExist) {
			return recording.Playlist{}, 0, 0, errNoVideo
		}
		if err != nil {
			return recording.Playlist{}, 0, 0, err
		}
		m, err := recording.ParseMPD(b, recording.SegmentPrefix)
		if err != nil {
			return recording.Playlist{}, 0, 0, err
		}
		p, width, height, ok := m.LowestVideo()
		if !ok {
			return recording.Playlist{}, 0, 0, errNoVideo
		}
		return p, width, height, nil
	}
	if err != nil {
		return recording.Playlist{}, 0, 0, err
	}
	b, err := s.readStored(ctx, dir+playlist)
	if err != nil {
		return recording.Playlist{}, 0, 0, err
	}
	p, err := recording.ParseHLS(b, recording.SegmentPrefix)
	return p, width, height, err
}

// lowestRendition is the media playlist of dir's lowest variant (by its
// master playlist; without one, the first media playlist stored).
func (s *Server) lowestRendition(ctx context.Context, dir string) (string, int, int, error) {
	if master, err := s.readStored(ctx, dir+recording.HLSMaster); err == nil {
		if uri, w, h, ok := recording.LowestVariant(master); ok && !strings.Contains(uri, "/") {
			return uri, w, h, nil
		}
	}
	st, err := s.storageOf(ctx, jobOf(dir))
	if err != nil {
		return "", 0, 0, err
	}
	files, err := st.List(ctx, dir)
	if err != nil {
		return "", 0, 0, err
	}
	var names []string
	for _, f := range files {
		if base := strings.TrimPrefix(f.Name, dir); path.Ext(base) == ".m3u8" && base != recording.HLSMaster && !strings.Contains(base, "/") {
			names = append(names, base)
		}
	}
	if len(names) == 0 {
		return "", 0, 0, errNoVideo
	}
	sort.Strings(names)
	return names[0], 0, 0, nil
}

// runStoryboard runs ffmpeg on p's segments (read through the job's
// Storage and piped to its stdin) and returns the sprite.
func (s *Server) runStoryboard(ctx context.Context, jobID string, p recording.Playlist, sb recording.Storyboard) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, storyboardTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", ffmpeg.StoryboardArgs(sb.Interval, sb.Width, sb.Height, sb.Columns, sb.Rows)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("storyboard: %w", err)
	}
	feedErr := s.feedSegments(ctx, stdin, jobID, p)
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("storyboard: ffmpeg: %w: %s", errors.Join(err, feedErr), bytes.TrimSpace(stderr.Bytes()))
	}
	if out.Len() == 0 {
		return nil, fmt.Errorf("storyboard: ffmpeg made no image: %s", bytes.TrimSpace(stderr.Bytes()))
	}
	return out.Bytes(), nil
}

// feedSegments writes p's init segment and segments, in order, to w.
func (s *Server) feedSegments(ctx context.Context, w io.Writer, jobID string, p recording.Playlist) error {
	var last string
	for _, seg := range p.Segments {
		names := []string{seg.URI}
		if seg.Map != "" && seg.Map != last {
			names, last = []string{seg.Map, seg.URI}, seg.Map
		}
		for _, name := range names {
			o, err := s.open(ctx, jobID+"/"+name)
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed meanwhile: a gap in the previews
			}
			if err != nil {
				return err
			}
			_, err = io.Copy(w, o.Content)
			o.Close()
			if err != nil {
				return err
			}
		}
	}
	return nil
}
