package origin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/ezlivestreaming/ezlive/ffmpeg"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/recording"
)

// Recordings tells the origin which jobs keep their segments as
// recordings, and takes what it learns of each recording (store.Store
// does). An error means the answer is unknown.
type Recordings interface {
	// Recorded reports whether jobID keeps its segments (jobspec.Records).
	Recorded(ctx context.Context, jobID string) (bool, error)
	// SaveRecording notes the latest state of one of jobID's recordings.
	SaveRecording(ctx context.Context, jobID string, info recording.Info) error
}

// recordedTTL is how long a Recorded answer is reused: a job's setting
// changes only with its spec, and every manifest PUT and DELETE asks.
const recordedTTL = 5 * time.Second

// recorder is the origin's side of recordings: it indexes the manifests
// of recorded jobs as they are stored (package recording) into
// <job>/recordings/<run>/, and keeps their segments from ffmpeg's DELETEs.
type recorder struct {
	rec   Recordings
	mu    sync.Mutex
	cache map[string]recordedEntry
	locks map[string]*sync.Mutex // per job: its manifests are indexed one at a time
	// indexed is, per media playlist ("<job>/<file>"), the newest segment
	// its index holds: a playlist that ends on it (a low-latency playlist
	// republished for each part) is not read against the index again.
	indexed map[string]string
}

type recordedEntry struct {
	yes     bool
	err     error
	expires time.Time
}

func newRecorder(r Recordings) *recorder {
	if r == nil {
		return nil
	}
	return &recorder{rec: r, cache: map[string]recordedEntry{}, locks: map[string]*sync.Mutex{}, indexed: map[string]string{}}
}

// recorded asks Recordings, through a short cache; while Recordings cannot
// answer, the last answer it gave stands.
func (r *recorder) recorded(ctx context.Context, jobID string) (bool, error) {
	now := time.Now()
	r.mu.Lock()
	e, ok := r.cache[jobID]
	r.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.yes, e.err
	}
	yes, err := r.rec.Recorded(ctx, jobID)
	if err != nil && ok && e.err == nil {
		yes, err = e.yes, nil // fail static: a store outage cuts no recording
	}
	r.mu.Lock()
	if len(r.cache) >= maxAuthEntries {
		clear(r.cache)
	}
	r.cache[jobID] = recordedEntry{yes, err, now.Add(recordedTTL)}
	r.mu.Unlock()
	return yes, err
}

// upTo returns the newest segment indexed from playlist name.
func (r *recorder) upTo(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.indexed[name]
}

// indexedTo notes that playlist name's index holds segment uri.
func (r *recorder) indexedTo(name, uri string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.indexed) >= maxAuthEntries {
		clear(r.indexed)
	}
	r.indexed[name] = uri
}

func (r *recorder) lock(jobID string) func() {
	r.mu.Lock()
	l := r.locks[jobID]
	if l == nil {
		l = &sync.Mutex{}
		r.locks[jobID] = l
	}
	r.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// keepSegment answers ffmpeg's DELETE of a recorded job's segment with 204
// and keeps the file; it reports whether it did. When it cannot tell, the
// segment is kept too: a stray segment costs disk until the job is
// deleted, a lost one would cut a recording.
func (s *Server) keepSegment(w http.ResponseWriter, r *http.Request, jobID, name string) bool {
	if s.recorder == nil {
		return false
	}
	if _, ok := ffmpeg.RunOf(path.Base(name)); !ok {
		return false
	}
	if yes, err := s.recorder.recorded(r.Context(), jobID); !yes && err == nil {
		return false
	}
	w.WriteHeader(http.StatusNoContent)
	return true
}

// record indexes a manifest of a recorded job just stored as name. A
// failure is logged: the next version of the manifest catches up.
func (s *Server) record(ctx context.Context, jobID, name string) {
	file := strings.TrimPrefix(name, jobID+"/")
	isMPD := path.Ext(file) == ".mpd"
	if s.recorder == nil || strings.Contains(file, "/") || !isMPD && path.Ext(file) != ".m3u8" {
		return
	}
	if yes, err := s.recorder.recorded(ctx, jobID); !yes || err != nil {
		return
	}
	b, err := s.readStored(ctx, name)
	if err != nil {
		return // replaced or removed meanwhile: the next version comes
	}
	defer s.recorder.lock(jobID)()
	var info *recording.Info
	switch {
	case isMPD:
		info, err = s.recordMPD(ctx, jobID, b)
	case recording.IsMediaPlaylist(b):
		info, err = s.recordHLS(ctx, jobID, file, b)
	}
	if err == nil && info != nil {
		err = s.recorder.rec.SaveRecording(ctx, jobID, *info)
	}
	if err != nil {
		s.log.Warn("origin: recording not updated; the next manifest retries", "job_id", jobID, "path", file, "err", err)
	}
}

// recordingDir is the folder of jobID's recording of run.
func recordingDir(jobID, run string) string {
	return jobID + "/" + jobspec.Recordings + "/" + run + "/"
}

// recordHLS adds the new segments of a live media playlist to its run's
// VOD playlist of the same name.
func (s *Server) recordHLS(ctx context.Context, jobID, file string, b []byte) (*recording.Info, error) {
	live, err := recording.ParseHLS(b, "")
	if err != nil || len(live.Segments) == 0 {
		return nil, err
	}
	newest := live.Segments[len(live.Segments)-1].URI
	run, ok := ffmpeg.RunOf(newest)
	if !ok || s.recorder.upTo(jobID+"/"+file) == newest {
		return nil, nil
	}
	dir := recordingDir(jobID, run)
	var rec recording.Playlist
	if old, err := s.readStored(ctx, dir+file); err == nil {
		if rec, err = recording.ParseHLS(old, recording.SegmentPrefix); err != nil {
			return nil, err
		}
	}
	fresh := len(rec.Segments) == 0
	added := recording.Append(&rec, live, run)
	if len(added) == 0 {
		s.recorder.indexedTo(jobID+"/"+file, newest)
		return nil, nil
	}
	names := make([]string, 0, len(added)+1)
	if fresh && added[0].Map != "" {
		names = append(names, added[0].Map)
	}
	for _, seg := range added {
		names = append(names, seg.URI)
	}
	if _, err := s.store(ctx, dir+file, bytes.NewReader(recording.RenderHLS(rec, recording.SegmentPrefix))); err != nil {
		return nil, err
	}
	s.recorder.indexedTo(jobID+"/"+file, newest)
	s.copyOnce(ctx, jobID+"/"+jobspec.HLSMaster, dir+recording.HLSMaster)
	size := s.sizes(ctx, jobID, names)
	return s.updateInfo(ctx, dir, run, func(i *recording.Info) {
		if !i.HLS {
			// Program date-times an MPD gave before give way to the
			// playlists', which HLS clips are cut by.
			i.Program_start, i.Program_end = time.Time{}, time.Time{}
		}
		i.HLS, i.Duration = true, max(i.Duration, rec.Duration())
		i.Bytes += size
		if first := rec.Segments[0].Time; !first.IsZero() {
			if i.Program_start.IsZero() || first.Before(i.Program_start) {
				i.Program_start = first
			}
			i.Program_end = later(i.Program_end, recording.LiveEdge(rec))
		}
	})
}

// recordMPD adds the new segments of a live MPD to its run's static MPD.
// Its bytes are counted here only for a job without HLS playlists: a
// cmaf job's playlists list the same files and count them.
func (s *Server) recordMPD(ctx context.Context, jobID string, b []byte) (*recording.Info, error) {
	live, err := recording.ParseMPD(b, "")
	if err != nil {
		return nil, err
	}
	run, ok := live.Run()
	if !ok {
		return nil, nil // no timeline (low-latency DASH): its HLS playlists are recorded
	}
	dir := recordingDir(jobID, run)
	rec := &recording.MPD{}
	if old, err := s.readStored(ctx, dir+recording.DASHMaster); err == nil {
		if rec, err = recording.ParseMPD(old, recording.SegmentPrefix); err != nil {
			return nil, err
		}
	}
	added := recording.AppendMPD(rec, live)
	if len(added) == 0 {
		return nil, nil
	}
	// Before RenderMPD, which drops live's availabilityStartTime (rec may
	// share live's root).
	programStart, timed := recording.FirstProgramTime(rec, live)
	if _, err := s.store(ctx, dir+recording.DASHMaster, bytes.NewReader(recording.RenderMPD(rec, recording.SegmentPrefix))); err != nil {
		return nil, err
	}
	var size int64
	if _, err := s.size(ctx, jobID+"/"+jobspec.HLSMaster); errors.Is(err, fs.ErrNotExist) {
		size = s.sizes(ctx, jobID, added)
	}
	return s.updateInfo(ctx, dir, run, func(i *recording.Info) {
		i.DASH, i.Duration = true, max(i.Duration, rec.Duration())
		i.Bytes += size
		if timed && !i.HLS {
			// To the millisecond, as clips are named (recording.ClipName):
			// their offsets from it are then exact.
			i.Program_start = programStart.Truncate(time.Millisecond)
			i.Program_end = i.Program_start.Add(time.Duration(math.Round(rec.Duration()*1000)) * time.Millisecond)
		}
	})
}

// copyOnce copies from to to unless to exists (a recording keeps the
// master playlist of its run's start).
func (s *Server) copyOnce(ctx context.Context, from, to string) {
	if _, err := s.size(ctx, to); err == nil {
		return
	}
	if b, err := s.readStored(ctx, from); err == nil {
		_, _ = s.store(ctx, to, bytes.NewReader(b))
	}
}

// sizes sums the sizes of jobID's files names; a missing one counts 0.
func (s *Server) sizes(ctx context.Context, jobID string, names []string) int64 {
	var n int64
	for _, name := range names {
		if size, err := s.size(ctx, jobID+"/"+name); err == nil {
			n += size
		}
	}
	return n
}

// size is the size of the stored version of name (on S3 a GET of which
// only the headers are read), once an upload of it in progress has ended:
// a low-latency playlist names a segment whose last chunk may still be on
// its way.
func (s *Server) size(ctx context.Context, name string) (int64, error) {
	s.awaitUpload(ctx, name)
	o, err := s.open(ctx, name)
	if err != nil {
		return 0, err
	}
	o.Close()
	return o.Size, nil
}

// uploadAwait bounds how long indexing waits for a segment's upload to
// end: a segment stalled longer is counted as what is stored (nothing).
const uploadAwait = 5 * time.Second

// awaitUpload returns once no upload of name is in progress, or after
// uploadAwait.
func (s *Server) awaitUpload(ctx context.Context, name string) {
	u := s.uploads.lookup(name)
	if u == nil {
		return
	}
	timeout := time.NewTimer(uploadAwait)
	defer timeout.Stop()
	for {
		_, done, failed, changed := u.state()
		if done || failed {
			return
		}
		select {
		case <-changed:
		case <-timeout.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// updateInfo changes the recording's InfoFile with fn.
func (s *Server) updateInfo(ctx context.Context, dir, run string, fn func(*recording.Info)) (*recording.Info, error) {
	now := time.Now().UTC()
	info := recording.Info{Run: run, Started: now}
	if b, err := s.readStored(ctx, dir+recording.InfoFile); err == nil {
		_ = json.Unmarshal(b, &info) // a damaged file starts over
	}
	fn(&info)
	info.Updated = now
	b, _ := json.Marshal(info)
	if _, err := s.store(ctx, dir+recording.InfoFile, bytes.NewReader(b)); err != nil {
		return nil, err
	}
	return &info, nil
}

// RecordingRetention tells a Sweeper which recordings to keep (store.Store
// does). An error means the answer is unknown: nothing is removed on it.
type RecordingRetention interface {
	// KeepRecording is false once the recording was deleted (by the API).
	KeepRecording(ctx context.Context, jobID, run string) (bool, error)
	// ForgetRecording is called once its files are removed.
	ForgetRecording(ctx context.Context, jobID, run string) error
	// RecordingsKept reports whether a job whose outputs go (Retention's
	// KeepOutputs is false) keeps its recordings: it was deleted with them
	// kept, and they are not all removed yet.
	RecordingsKept(ctx context.Context, jobID string) (bool, error)
	// ForgetKeptJob is called once such a job's last recording is removed,
	// and the rest of its folder with it.
	ForgetKeptJob(ctx context.Context, jobID string) error
}

// sweepRecordings removes the recordings of a job that were deleted or,
// with RecordingMaxAge, not added to for longer. A recording younger than
// MinAge (by its newest index file) is left alone: it is being written (a
// live run's info.json changes with every segment).
func (w *Sweeper) sweepRecordings(ctx context.Context, jobID string) error {
	if w.recs == nil {
		return nil
	}
	st, err := w.srv.storageOf(ctx, jobID)
	if err != nil {
		return fmt.Errorf("sweep: recordings of job %s: %w", jobID, err)
	}
	files, err := st.List(ctx, jobID+"/"+jobspec.Recordings+"/")
	if err != nil {
		return fmt.Errorf("sweep: recordings of job %s: %w", jobID, err)
	}
	var failed []error
	for run, modTime := range recordedRuns(jobID, files) {
		if time.Since(modTime) < w.minAge {
			continue
		}
		expired := modTime.IsZero() || w.recMaxAge > 0 && time.Since(modTime) > w.recMaxAge
		if !expired {
			keep, err := w.recs.KeepRecording(ctx, jobID, run)
			if err != nil {
				return fmt.Errorf("sweep: is recording %s of job %s deleted: %w", run, jobID, err)
			}
			if keep {
				continue
			}
		}
		if err := w.srv.removeRecording(ctx, st, jobID, run); err != nil {
			failed = append(failed, err)
			continue
		}
		w.log.Info("origin: removed a recording", "job_id", jobID, "run", run, "expired", expired)
		failed = append(failed, w.recs.ForgetRecording(ctx, jobID, run))
	}
	return errors.Join(failed...)
}

// recordedRuns are the runs of jobID's files under recordings/, each with
// the time its index was last written: a storyboard, made when first read,
// does not count (its age is not the recording's). A run with nothing but
// a storyboard (left by one made while its recording was removed) has the
// zero time: it is as old as can be.
func recordedRuns(jobID string, files []StoredFile) map[string]time.Time {
	runs := map[string]time.Time{}
	for _, f := range files {
		rel, ok := strings.CutPrefix(f.Name, jobID+"/"+jobspec.Recordings+"/")
		if !ok {
			continue
		}
		run, file, _ := strings.Cut(rel, "/")
		if file == recording.StoryboardVTT || file == recording.StoryboardImage {
			runs[run] = runs[run] // listed, of no age
			continue
		}
		runs[run] = later(runs[run], f.ModTime)
	}
	return runs
}

// keepRecordingsOnly removes, of a deleted job whose recordings are kept,
// what is not a recording: every file but those of its recorded runs (the
// folders recordings/<run>/ and the segments whose names carry the run,
// which the recordings' playlists and MPDs name), once its deleted and
// expired recordings are removed. When no recording is left it removes
// the rest and tells RecordingRetention to forget the job; gone says so.
func (w *Sweeper) keepRecordingsOnly(ctx context.Context, jobID string) (gone bool, err error) {
	if err := w.sweepRecordings(ctx, jobID); err != nil {
		return false, err
	}
	st, err := w.srv.storageOf(ctx, jobID)
	if err != nil {
		return false, err
	}
	files, err := st.List(ctx, jobID+"/")
	if err != nil {
		return false, fmt.Errorf("list outputs of job %s: %w", jobID, err)
	}
	runs := recordedRuns(jobID, files)
	if len(runs) == 0 {
		if err := w.srv.RemoveJob(ctx, jobID); err != nil {
			return false, err
		}
		return true, w.recs.ForgetKeptJob(ctx, jobID)
	}
	var failed []error
	for _, f := range files {
		if _, kept := runs[runOf(jobID, f.Name)]; !kept {
			failed = append(failed, st.Delete(ctx, f.Name))
		}
	}
	w.srv.changes.notifyJob(jobID)
	if err := errors.Join(failed...); err != nil {
		return false, fmt.Errorf("remove outputs of job %s but its recordings: %w", jobID, err)
	}
	return false, nil
}

// runOf is the run a file of jobID belongs to: the one whose recording
// folder holds it, or the one its name carries (ffmpeg.RunOf); "" if none.
func runOf(jobID, name string) string {
	rel := strings.TrimPrefix(name, jobID+"/")
	if inRecording, ok := strings.CutPrefix(rel, jobspec.Recordings+"/"); ok {
		return jobOf(inRecording)
	}
	run, _ := ffmpeg.RunOf(path.Base(rel))
	return run
}

// removeRecording removes the files of jobID's run from st: its segments
// in the job folder, then its recording folder.
func (s *Server) removeRecording(ctx context.Context, st Storage, jobID, run string) error {
	files, err := st.List(ctx, jobID+"/")
	for _, f := range files {
		if r, ok := ffmpeg.RunOf(path.Base(f.Name)); ok && r == run {
			err = errors.Join(err, st.Delete(ctx, f.Name))
		}
	}
	if err == nil {
		err = st.DeletePrefix(ctx, recordingDir(jobID, run))
	}
	if err != nil {
		return fmt.Errorf("remove recording %s of job %s: %w", run, jobID, err)
	}
	s.changes.notifyJob(jobID)
	return nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// getClip answers a file of a clip, cut from the recording's file of the
// same name when asked (recording.ClipsFolder); ok is false for any other
// name. A clip's master playlist is the recording's: its relative URIs
// lead to the clip's media playlists.
func (s *Server) getClip(w http.ResponseWriter, r *http.Request, name string) bool {
	parts := strings.Split(name, "/")
	if len(parts) != 6 || parts[1] != jobspec.Recordings || parts[3] != recording.ClipsFolder {
		return false
	}
	from, to, ok := recording.ParseClipName(parts[4])
	if !ok {
		notFound(w)
		return true
	}
	dir := strings.Join(parts[:3], "/") + "/"
	b, err := s.readStored(r.Context(), dir+parts[5])
	if err != nil {
		s.openFailed(w, name, err)
		return true
	}
	switch {
	case parts[5] == recording.HLSMaster:
	case path.Ext(name) == ".m3u8":
		b, err = cutHLS(b, from, to)
	case path.Ext(name) == ".mpd":
		b, err = s.cutMPD(r.Context(), dir, b, from, to)
	default:
		notFound(w)
		return true
	}
	if err != nil {
		httpError(w, err.Error(), http.StatusNotFound)
		return true
	}
	kind := classify(name)
	w.Header().Set("Content-Type", kind.contentType)
	w.Header().Set("Cache-Control", cacheManifest)
	http.ServeContent(&countingWriter{ResponseWriter: w, n: &s.bytesOut}, r, name, time.Time{}, bytes.NewReader(b))
	return true
}

func cutHLS(b []byte, from, to time.Time) ([]byte, error) {
	p, err := recording.ParseHLS(b, recording.SegmentPrefix)
	if err != nil {
		return nil, err
	}
	clip, _, err := recording.Cut(p, from, to)
	if err != nil {
		return nil, err
	}
	return recording.RenderHLS(clip, recording.ClipPrefix), nil
}

// cutMPD cuts a static MPD by the recording's program date-times (its
// first segment starts where recording.Info.Span starts).
func (s *Server) cutMPD(ctx context.Context, dir string, b []byte, from, to time.Time) ([]byte, error) {
	m, err := recording.ParseMPD(b, recording.SegmentPrefix)
	if err != nil {
		return nil, err
	}
	var info recording.Info
	if ib, err := s.readStored(ctx, dir+recording.InfoFile); err == nil {
		_ = json.Unmarshal(ib, &info)
	}
	start, _ := info.Span()
	clip := recording.CutMPDTime(m, from.Sub(start), to.Sub(start))
	if clip.Duration() == 0 {
		return nil, recording.ErrEmptyClip
	}
	return recording.RenderMPD(clip, recording.ClipPrefix), nil
}
