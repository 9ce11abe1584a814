package origin

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/recording"
)

// fakeRecordings records job1 (unless told otherwise) and keeps what it is told.
type fakeRecordings struct {
	mu     sync.Mutex
	off    map[string]bool
	err    error
	saved  map[string]recording.Info // run → latest
	writes int
}

func newFakeRecordings(off ...string) *fakeRecordings {
	f := &fakeRecordings{off: map[string]bool{}, saved: map[string]recording.Info{}}
	for _, id := range off {
		f.off[id] = true
	}
	return f
}

func (f *fakeRecordings) Recorded(_ context.Context, jobID string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.off[jobID], f.err
}

func (f *fakeRecordings) SaveRecording(_ context.Context, jobID string, info recording.Info) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.saved[info.Run] = info
	f.writes++
	return nil
}

func (f *fakeRecordings) info(run string) recording.Info {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.saved[run]
}

// hlsWindow is a live hls-muxer playlist of segments from..to of run, 2 s each.
func hlsWindow(run string, from, to int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:%d\n", from)
	for n := from; n <= to; n++ {
		fmt.Fprintf(&b, "#EXTINF:2.000000,\n#EXT-X-PROGRAM-DATE-TIME:2026-12-02T06:00:%02d.000+0000\nv-%s-%d.ts\n", 2*n, run, n)
	}
	return []byte(b.String())
}

func TestRecordedJobKeepsItsSegmentsAsARecording(t *testing.T) {
	eachBackend(t, func(t *testing.T, _ string, newF func(Config) *fixture) {
		for _, c := range []struct {
			name     string
			off      []string
			recorded bool
		}{
			{"recorded", nil, true},
			{"not recorded", []string{"job1"}, false},
		} {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				rec := newFakeRecordings(c.off...)
				f := newF(Config{Recordings: rec})
				auth := []string{"Authorization", "Bearer T1"}
				f.put("/live/job1/master.m3u8", []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nv.m3u8\n"))
				for n := 1; n <= 5; n++ {
					f.put(fmt.Sprintf("/live/job1/v-g1p0-%d.ts", n), bytes.Repeat([]byte{0x47}, 100*n))
					f.put("/live/job1/v.m3u8", hlsWindow("g1p0", max(1, n-1), n))
					if n > 2 {
						if resp := f.do(http.MethodDelete, fmt.Sprintf("/live/job1/v-g1p0-%d.ts", n-2), nil, auth...); resp.StatusCode != http.StatusNoContent {
							t.Fatalf("DELETE: %d", resp.StatusCode)
						}
					}
				}
				_, kept := f.stored("job1/v-g1p0-1.ts")
				vod, hasVOD := f.stored("job1/recordings/g1p0/v.m3u8")
				if kept != c.recorded || hasVOD != c.recorded {
					t.Fatalf("segment 1 kept %v, recording %v; want both %v", kept, hasVOD, c.recorded)
				}
				if !c.recorded {
					return
				}
				p, err := recording.ParseHLS(vod, recording.SegmentPrefix)
				if err != nil || len(p.Segments) != 5 || !bytes.Contains(vod, []byte("#EXT-X-ENDLIST")) {
					t.Fatalf("recording (%v) lists %d segments, want 5:\n%s", err, len(p.Segments), vod)
				}
				if master, _ := f.stored("job1/recordings/g1p0/master.m3u8"); !bytes.Contains(master, []byte("v.m3u8")) {
					t.Errorf("recording's master playlist:\n%s", master)
				}
				info := rec.info("g1p0")
				if info.Duration != 10 || info.Bytes != 1500 || !info.HLS || info.DASH {
					t.Errorf("saved %+v; want 10 s, 1500 bytes, HLS only", info)
				}
				// A player resolves the ../../ URIs back to the job folder.
				base, _ := url.Parse("/live/job1/recordings/g1p0/v.m3u8")
				resp, body := f.get(base.ResolveReference(&url.URL{Path: recording.SegmentPrefix + p.Segments[0].URI}).Path)
				if resp.StatusCode != http.StatusOK || len(body) != 100 {
					t.Errorf("first segment through the recording: %d, %d bytes", resp.StatusCode, len(body))
				}
				// A non-segment is still deleted.
				f.put("/live/job1/thumbnail.jpg", []byte{1})
				f.do(http.MethodDelete, "/live/job1/thumbnail.jpg", nil, auth...)
				if _, ok := f.stored("job1/thumbnail.jpg"); ok {
					t.Error("DELETE of a non-segment kept it")
				}
			})
		}
	})
}

func TestRecordingGoesOnThroughAStoreOutage(t *testing.T) {
	t.Parallel()
	rec := newFakeRecordings()
	f := newFixture(t, Config{Recordings: rec})
	f.put("/live/job1/v.m3u8", hlsWindow("g1p0", 1, 1))
	rec.mu.Lock()
	rec.err = fmt.Errorf("redis down")
	rec.mu.Unlock()
	f.srv.recorder.mu.Lock()
	e := f.srv.recorder.cache["job1"]
	e.expires = time.Time{} // the next manifest asks again
	f.srv.recorder.cache["job1"] = e
	f.srv.recorder.mu.Unlock()
	f.put("/live/job1/v.m3u8", hlsWindow("g1p0", 1, 2))
	vod, _ := f.stored("job1/recordings/g1p0/v.m3u8")
	if p, err := recording.ParseHLS(vod, recording.SegmentPrefix); err != nil || len(p.Segments) != 2 {
		t.Errorf("during the outage the recording stopped growing:\n%s", vod)
	}
}

func TestRecordingsKeepSegmentsWhenTheyCannotTell(t *testing.T) {
	t.Parallel()
	rec := newFakeRecordings()
	rec.err = fmt.Errorf("redis down")
	f := newFixture(t, Config{Recordings: rec})
	f.put("/live/job1/v-g1p0-1.ts", []byte{0x47})
	f.do(http.MethodDelete, "/live/job1/v-g1p0-1.ts", nil, "Authorization", "Bearer T1")
	if _, ok := f.stored("job1/v-g1p0-1.ts"); !ok {
		t.Error("a segment was deleted while Recordings could not answer")
	}
	f.put("/live/job1/v.m3u8", hlsWindow("g1p0", 1, 1))
	if _, ok := f.stored("job1/recordings/g1p0/v.m3u8"); ok {
		t.Error("indexed a playlist while Recordings could not answer")
	}
}

// ffmpeg deletes the segments that leave its window; a recorded job's
// recording still has all of them, and ffprobe reads it as long as what
// was streamed (4 s) within one segment (1 s).
func TestFFmpegRecording(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		mux       func(base string) []string
		manifests []string // in the recording
	}{
		{"hls muxer", func(base string) []string {
			return []string{"-f", "hls", "-hls_time", "1", "-hls_list_size", "2",
				"-hls_flags", "delete_segments+program_date_time", "-hls_segment_filename", base + "v-g1p0-%d.ts",
				"-method", "PUT", "-headers", "Authorization: Bearer T\r\n", base + "v.m3u8"}
		}, []string{"v.m3u8"}},
		{"dash muxer, cmaf", func(base string) []string {
			return []string{"-f", "dash", "-seg_duration", "1", "-window_size", "2", "-extra_window_size", "0",
				"-use_template", "1", "-use_timeline", "1", "-dash_segment_type", "mp4",
				"-init_seg_name", "init-g1p0-$RepresentationID$.mp4", "-media_seg_name", "chunk-g1p0-$RepresentationID$-$Number%05d$.m4s",
				"-hls_playlist", "1", "-hls_master_name", "master.m3u8",
				"-method", "PUT", "-http_opts", `headers=Authorization\: Bearer T`, base + "master.mpd"}
		}, []string{"media_0.m3u8", "master.m3u8", "master.mpd"}},
		// Without playlists, the program date-times come from the live
		// MPD: its availabilityStartTime and the segments' media time.
		{"dash muxer, no HLS", func(base string) []string {
			return []string{"-f", "dash", "-seg_duration", "1", "-window_size", "2", "-extra_window_size", "0",
				"-use_template", "1", "-use_timeline", "1", "-dash_segment_type", "mp4",
				"-init_seg_name", "init-g1p0-$RepresentationID$.mp4", "-media_seg_name", "chunk-g1p0-$RepresentationID$-$Number%05d$.m4s",
				"-method", "PUT", "-http_opts", `headers=Authorization\: Bearer T`, base + "master.mpd"}
		}, []string{"master.mpd"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rec := newFakeRecordings()
			o := newFFmpegOriginWith(t, rec)
			o.runFFmpeg(t, true, c.mux(o.http.URL+"/live/job1/")...)
			for _, m := range c.manifests {
				if _, ok := o.stored("job1/recordings/g1p0/" + m); !ok {
					t.Fatalf("recording has no %s", m)
				}
				_, dur := probe(t, o.http.URL+"/live/job1/recordings/g1p0/"+m)
				if dur < 3 || dur > 5 {
					t.Errorf("%s: ffprobe says %.2f s; 4 s were streamed", m, dur)
				}
			}
			info := rec.info("g1p0")
			if info.Duration < 3 || info.Duration > 5 || info.Bytes == 0 || info.Program_start.IsZero() {
				t.Fatalf("saved %+v", info)
			}
			// The first segment was indexed once it was whole: after it
			// started, by about its duration.
			if lead := info.Started.Sub(info.Program_start); lead <= 0 || lead > 10*time.Second {
				t.Errorf("the recording's program starts at %v, %v before its first segment was indexed (%v)", info.Program_start, lead, info.Started)
			}
			// A clip of [1 s, 2.5 s) is cut at the boundaries around it: 1 s to 3 s.
			clip := recording.ClipName(info.Program_start.Add(time.Second), info.Program_start.Add(2500*time.Millisecond))
			for _, m := range c.manifests {
				_, dur := probe(t, o.http.URL+"/live/job1/recordings/g1p0/clips/"+clip+"/"+m)
				if dur < 1.5 || dur > 2.5 {
					t.Errorf("clip %s: ffprobe says %.2f s, want 2 s", m, dur)
				}
			}
			// Its storyboard is made from either kind of segment (mpegts, fmp4).
			resp, vtt := o.get("/live/job1/recordings/g1p0/" + recording.StoryboardVTT)
			if cues := parseStoryboard(t, vtt); resp.StatusCode != 200 || len(cues) < 2 {
				t.Errorf("storyboard: %d, %d cues\n%s", resp.StatusCode, len(cues), vtt)
			}
		})
	}
}

func (f *fakeRecordings) KeepRecording(_ context.Context, _, run string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.off["deleted:"+run], f.err
}

func (f *fakeRecordings) ForgetRecording(_ context.Context, _, run string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.off["forgot:"+run] = true
	return nil
}

// RecordingsKept is true for a job marked "kept:<id>" until it is forgotten.
func (f *fakeRecordings) RecordingsKept(_ context.Context, jobID string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.off["kept:"+jobID] && !f.off["forgot:"+jobID], f.err
}

func (f *fakeRecordings) ForgetKeptJob(_ context.Context, jobID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.off["forgot:"+jobID] = true
	return nil
}

// listRoot lists every file under the origin's root (the spool).
func (f *fixture) listRoot() []string {
	f.t.Helper()
	var files []string
	_ = filepath.WalkDir(f.root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(f.root, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	return files
}

// agedStorage lists the files whose names contain a key of age that much
// older than they are.
type agedStorage struct {
	Storage
	age map[string]time.Duration
}

func (a agedStorage) List(ctx context.Context, prefix string) ([]StoredFile, error) {
	files, err := a.Storage.List(ctx, prefix)
	for i, file := range files {
		for key, d := range a.age {
			if strings.Contains(file.Name, key) {
				files[i].ModTime = file.ModTime.Add(-d)
			}
		}
	}
	return files, err
}

func TestSweepRemovesDeletedAndExpiredRecordings(t *testing.T) {
	eachBackend(t, func(t *testing.T, _ string, newF func(Config) *fixture) {
		rec := newFakeRecordings("deleted:g1p0")
		f := newF(Config{Recordings: rec})
		for _, run := range []string{"g1p0", "g2p0", "g3p0"} {
			f.put("/live/job1/v-"+run+"-1.ts", []byte{0x47})
			f.put("/live/job1/v.m3u8", hlsWindow(run, 1, 1))
		}
		f.srv.storage = agedStorage{f.srv.storage, map[string]time.Duration{
			"/g1p0/": time.Hour, "/g2p0/": time.Hour, "/g3p0/": 8 * 24 * time.Hour}}
		w, err := f.srv.NewSweeper(SweeperConfig{Retention: newRetention("job1", "keep"), Recordings: rec, RecordingMaxAge: 7 * 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Sweep(t.Context()); err != nil {
			t.Fatal(err)
		}
		want := []string{"job1/recordings/g2p0/info.json",
			"job1/recordings/g2p0/v.m3u8", "job1/v-g2p0-1.ts", "job1/v.m3u8"}
		if got := f.list("job1/"); !slices.Equal(got, want) {
			t.Errorf("after the sweep job1 holds %v, want %v", got, want)
		}
		if !rec.off["forgot:g1p0"] || !rec.off["forgot:g3p0"] || rec.off["forgot:g2p0"] {
			t.Errorf("forgotten: %v", rec.off)
		}
		// Deleting the job leaves nothing: the recordings live in its folder.
		if err := f.srv.RemoveJob(t.Context(), "job1"); err != nil {
			t.Fatal(err)
		}
		if files, spooled := f.list(""), f.listRoot(); len(files)+len(spooled) != 0 {
			t.Errorf("after the job's deletion the storage holds %v, the spool %v", files, spooled)
		}
	})
}

func TestClipsAreCutFromTheRecording(t *testing.T) {
	eachBackend(t, func(t *testing.T, _ string, newF func(Config) *fixture) {
		f := newF(Config{Recordings: newFakeRecordings()})
		f.put("/live/job1/v.m3u8", hlsWindow("g1p0", 1, 5)) // 06:00:02 to 06:00:12
		at := func(s int) time.Time { return time.Date(2026, 12, 2, 6, 0, s, 0, time.UTC) }
		base := "/live/job1/recordings/g1p0/clips/"
		resp, body := f.get(base + recording.ClipName(at(5), at(7)) + "/v.m3u8")
		p, err := recording.ParseHLS(body, recording.ClipPrefix)
		if resp.StatusCode != http.StatusOK || err != nil || len(p.Segments) != 2 || p.Segments[0].URI != "v-g1p0-2.ts" {
			t.Fatalf("clip of 5-7 s: %d, %v:\n%s", resp.StatusCode, err, body)
		}
		for _, bad := range []string{recording.ClipName(at(30), at(40)) + "/v.m3u8", "7-5/v.m3u8", "x/v.m3u8", recording.ClipName(at(5), at(7)) + "/nope.m3u8"} {
			if resp, _ := f.get(base + bad); resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s: %d, want 404", bad, resp.StatusCode)
			}
		}
	})
}

// TestRecordingCountsASegmentStillUploading: a low-latency playlist names a
// segment whose upload is still ending; its bytes count once it has ended.
func TestRecordingCountsASegmentStillUploading(t *testing.T) {
	t.Parallel()
	rec := newFakeRecordings()
	f := newFixture(t, Config{Recordings: rec})
	f.put("/live/job1/v-g1p0-1.ts", bytes.Repeat([]byte{0x47}, 100))
	pw, status := f.slowPut("/live/job1/v-g1p0-2.ts")
	pw.Write(bytes.Repeat([]byte{0x47}, 150))
	f.waitUploaded("job1/v-g1p0-2.ts", 150)
	playlist := make(chan struct{})
	go func() {
		defer close(playlist)
		f.put("/live/job1/v.m3u8", hlsWindow("g1p0", 1, 2))
	}()
	time.Sleep(200 * time.Millisecond) // the playlist reaches the recorder while the segment uploads
	pw.Write(bytes.Repeat([]byte{0x47}, 50))
	pw.Close()
	if code := <-status; code != http.StatusNoContent {
		t.Fatalf("segment PUT: %d", code)
	}
	<-playlist
	if info := rec.info("g1p0"); info.Bytes != 300 {
		t.Errorf("recording counts %d bytes, want 300 (100 + the 200 of the segment still uploading)", info.Bytes)
	}
}

// TestDeletedJobKeepsItsRecordings: of a deleted job whose recordings are
// kept, a sweep leaves the recorded runs' files only, which still play;
// once the last recording is deleted, nothing is left and the job is
// forgotten.
func TestDeletedJobKeepsItsRecordings(t *testing.T) {
	eachBackend(t, func(t *testing.T, _ string, newF func(Config) *fixture) {
		rec := newFakeRecordings()
		f := newF(Config{Recordings: rec})
		f.put("/live/job1/master.m3u8", []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nv.m3u8\n"))
		for _, run := range []string{"g1p0", "g2p0"} {
			f.put("/live/job1/v-"+run+"-1.ts", []byte("segment of "+run))
			f.put("/live/job1/v.m3u8", hlsWindow(run, 1, 1))
		}
		f.put("/live/job1/v-g3p0-1.ts", []byte("never in a playlist"))
		f.put("/live/job1/thumbnail.jpg", []byte{1})
		rec.off["kept:job1"] = true
		w, err := f.srv.NewSweeper(SweeperConfig{Retention: newRetention("job1", "deleted"), Recordings: rec, MinAge: time.Nanosecond})
		if err != nil {
			t.Fatal(err)
		}
		sweep := func(wantRemoved int) {
			t.Helper()
			if removed, err := w.Sweep(t.Context()); removed != wantRemoved || err != nil {
				t.Fatalf("Sweep: removed %d, %v; want %d", removed, err, wantRemoved)
			}
		}
		sweep(0)
		run := func(r string) []string {
			return []string{"job1/recordings/" + r + "/info.json", "job1/recordings/" + r + "/master.m3u8",
				"job1/recordings/" + r + "/v.m3u8", "job1/v-" + r + "-1.ts"}
		}
		if got, want := f.list("job1/"), slices.Sorted(slices.Values(append(run("g1p0"), run("g2p0")...))); !slices.Equal(got, want) {
			t.Errorf("after the sweep job1 holds %v, want %v", got, want)
		}
		resp, vod := f.get("/live/job1/recordings/g1p0/v.m3u8")
		p, err := recording.ParseHLS(vod, recording.SegmentPrefix)
		if resp.StatusCode != http.StatusOK || err != nil || len(p.Segments) != 1 {
			t.Fatalf("recording's playlist: %d, %v:\n%s", resp.StatusCode, err, vod)
		}
		if resp, body := f.get("/live/job1/" + p.Segments[0].URI); resp.StatusCode != http.StatusOK || string(body) != "segment of g1p0" {
			t.Errorf("recording's segment: %d %q", resp.StatusCode, body)
		}

		rec.off["deleted:g1p0"] = true
		sweep(0)
		if got, want := f.list("job1/"), run("g2p0"); !slices.Equal(got, want) {
			t.Errorf("after g1p0's deletion job1 holds %v, want %v", got, want)
		}
		rec.off["deleted:g2p0"] = true
		sweep(1)
		if files, spooled := f.list(""), f.listRoot(); len(files)+len(spooled) != 0 || !rec.off["forgot:job1"] {
			t.Errorf("after the last recording's deletion the storage holds %v, the spool %v; job forgotten %v", files, spooled, rec.off["forgot:job1"])
		}
	})
}

// TestStoryboardDoesNotDelayExpiry: a recording expires by the time it was
// last added to, however recently its storyboard was made.
func TestStoryboardDoesNotDelayExpiry(t *testing.T) {
	eachBackend(t, func(t *testing.T, _ string, newF func(Config) *fixture) {
		rec := newFakeRecordings()
		f := newF(Config{Recordings: rec})
		f.put("/live/job1/v-g1p0-1.ts", []byte{0x47})
		f.put("/live/job1/v.m3u8", hlsWindow("g1p0", 1, 1))
		f.srv.storage = agedStorage{f.srv.storage, map[string]time.Duration{
			"g1p0/v.m3u8": 8 * 24 * time.Hour, "g1p0/info.json": 8 * 24 * time.Hour}}
		for _, name := range []string{"g1p0/" + recording.StoryboardVTT, "g1p0/" + recording.StoryboardImage, // made just now
			"g2p0/" + recording.StoryboardVTT} { // made while g2p0 was removed: no recording
			if _, err := f.srv.store(t.Context(), "job1/recordings/"+name, strings.NewReader("x")); err != nil {
				t.Fatal(err)
			}
		}
		w, err := f.srv.NewSweeper(SweeperConfig{Retention: newRetention("job1", "keep"), Recordings: rec, RecordingMaxAge: 7 * 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Sweep(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := f.list("job1/"); !slices.Equal(got, []string{"job1/v.m3u8"}) || !rec.off["forgot:g1p0"] || !rec.off["forgot:g2p0"] {
			t.Errorf("after the sweep job1 holds %v (forgotten: %v); want the expired recording and the lone storyboard gone", got, rec.off)
		}
	})
}
