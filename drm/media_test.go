package drm

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/Eyevinn/mp4ff/mp4"
	"github.com/ezlivestreaming/ezlive/internal/redistest"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/origin"
)

// fixtures are real ffmpeg outputs named as ffmpeg.Args names them:
// DASH (init-g1p0-<n>.mp4, chunk-g1p0-<n>-<number>.m4s), HLS fmp4 and
// HLS mpegts, two 1 s segments each, made once per test binary.
var fixtures struct {
	once sync.Once
	dir  string
	err  error
}

func mediaDir(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed")
	}
	fixtures.once.Do(func() {
		dir, err := os.MkdirTemp("", "drm-media-")
		if err != nil {
			fixtures.err = err
			return
		}
		fixtures.dir = dir
		fixtures.err = makeFixtures(dir)
	})
	if fixtures.err != nil {
		t.Fatalf("make fixtures: %v", fixtures.err)
	}
	return fixtures.dir
}

func makeFixtures(dir string) error {
	src := []string{"-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=2",
		"-f", "lavfi", "-i", "sine=d=2", "-map", "0:v", "-map", "1:a",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-b:v", "300k", "-c:a", "aac", "-b:a", "64k"}
	runs := [][]string{
		{"-f", "dash", "-seg_duration", "1", "-use_template", "1", "-use_timeline", "1",
			"-adaptation_sets", "id=0,streams=v id=1,streams=a", "-dash_segment_type", "mp4",
			"-init_seg_name", "init-g1p0-$RepresentationID$.mp4",
			"-media_seg_name", "chunk-g1p0-$RepresentationID$-$Number%05d$.m4s", filepath.Join(dir, "dash", "master.mpd")},
		{"-f", "hls", "-hls_time", "1", "-hls_segment_type", "fmp4",
			"-hls_segment_filename", filepath.Join(dir, "hls", "%v-g1p0-%d.m4s"), "-hls_fmp4_init_filename", "%v-g1p0-init.mp4",
			"-master_pl_name", "master.m3u8", "-var_stream_map", "v:0,agroup:audio,name:video a:0,agroup:audio,name:audio",
			filepath.Join(dir, "hls", "%v.m3u8")},
		{"-f", "hls", "-hls_time", "1", "-hls_segment_filename", filepath.Join(dir, "ts", "video-g1p0-%d.ts"),
			filepath.Join(dir, "ts", "video.m3u8")},
	}
	for _, r := range runs {
		if err := os.MkdirAll(filepath.Dir(r[len(r)-1]), 0o755); err != nil {
			return err
		}
		out, err := exec.Command("ffmpeg", append(append([]string{}, src...), r...)...).CombinedOutput()
		if err != nil {
			return &exec.ExitError{Stderr: out}
		}
	}
	return nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtures.dir != "" {
		os.RemoveAll(fixtures.dir)
	}
	os.Exit(code)
}

// jobsMap is a JobSource over fixed specs.
type jobsMap map[string]jobspec.Spec

func (j jobsMap) Job(_ context.Context, id string) (*jobspec.LiveJob, error) {
	s, ok := j[id]
	if !ok {
		return nil, jobspec.Errorf(jobspec.ENOTFOUND, "no job %s", id)
	}
	return &jobspec.LiveJob{Id: id, Spec: s}, nil
}

// KeptJob: no deleted job keeps its recordings here (a DRM job records none).
func (j jobsMap) KeptJob(_ context.Context, id string) (*jobspec.LiveJob, error) {
	return nil, jobspec.Errorf(jobspec.ENOTFOUND, "job %s not found", id)
}

func drmSpec(stream, format string) jobspec.Spec {
	return jobspec.Spec{Output: jobspec.Output{Stream_type: stream, Segment_format: format, Drm: &jobspec.Drm{}}}
}

func newPackager(t *testing.T, jobs jobsMap) *Packager {
	t.Helper()
	rdb := redistest.Start(t).Client(t)
	return &Packager{Keys: NewKeyService(rdb, nil), Jobs: jobs, LicenseBaseURL: "http://api.test:1080"}
}

// storedFiles plays the origin's stored folder of one job.
type storedFiles map[string][]byte

func (s storedFiles) read(f string) ([]byte, error) {
	b, ok := s[f]
	if !ok {
		return nil, os.ErrNotExist
	}
	return b, nil
}

// encryptOne runs one upload through the packager and returns what the
// origin would store under the upload's own name (nil: held back) and
// stores every returned file in stored.
func encryptOne(t *testing.T, p *Packager, jobID, file string, clear []byte, read func(string) ([]byte, error)) ([]byte, error) {
	t.Helper()
	files, err := p.Encrypt(context.Background(), origin.Upload{JobID: jobID, File: file, Clear: clear, Stored: read})
	var own []byte
	for _, f := range files {
		if f.Name == file {
			own = f.Data
		}
	}
	return own, err
}

// encryptTrack runs init then media segments of one track through the
// packager as the origin would, and returns what it stored.
func encryptTrack(t *testing.T, p *Packager, jobID, dir, init string, media []string) storedFiles {
	t.Helper()
	stored := storedFiles{}
	for _, f := range append([]string{init}, media...) {
		clear := readFile(t, filepath.Join(dir, f))
		enc, err := encryptOne(t, p, jobID, f, clear, stored.read)
		if err != nil {
			t.Fatalf("encrypt %s: %v", f, err)
		}
		stored[f] = enc
	}
	return stored
}

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEncryptFMP4 encrypts real ffmpeg fMP4 segments (cenc for DASH, cbcs
// for HLS, video and audio), then checks that the init carries the
// protection boxes with the job's key id, that every media segment has senc
// and differs from the clear one, and that decrypting with the key gives
// back the clear samples exactly.
func TestEncryptFMP4(t *testing.T) {
	t.Parallel()
	dir := mediaDir(t)
	jobs := jobsMap{"dashjob": drmSpec("dash", "fmp4"), "hlsjob": drmSpec("hls", "fmp4")}
	p := newPackager(t, jobs)
	tests := []struct {
		job, sub, init, scheme string
		media                  []string
	}{
		{"dashjob", "dash", "init-g1p0-0.mp4", "cenc", []string{"chunk-g1p0-0-00001.m4s", "chunk-g1p0-0-00002.m4s"}},
		{"dashjob", "dash", "init-g1p0-1.mp4", "cenc", []string{"chunk-g1p0-1-00001.m4s", "chunk-g1p0-1-00002.m4s"}},
		{"hlsjob", "hls", "video-g1p0-init.mp4", "cbcs", []string{"video-g1p0-0.m4s", "video-g1p0-1.m4s"}},
		{"hlsjob", "hls", "audio-g1p0-init.mp4", "cbcs", []string{"audio-g1p0-0.m4s", "audio-g1p0-1.m4s"}},
	}
	for _, tt := range tests {
		t.Run(tt.sub+"/"+tt.init, func(t *testing.T) {
			stored := encryptTrack(t, p, tt.job, filepath.Join(dir, tt.sub), tt.init, tt.media)
			k, err := p.Keys.Key(context.Background(), tt.job)
			if err != nil {
				t.Fatal(err)
			}
			if k.Scheme != tt.scheme {
				t.Fatalf("scheme %q, want %q", k.Scheme, tt.scheme)
			}
			di := checkInit(t, stored[tt.init], k)
			for _, m := range tt.media {
				checkMedia(t, readFile(t, filepath.Join(dir, tt.sub, m)), stored[m], di, k)
			}
		})
	}
}

func decode(t *testing.T, b []byte) *mp4.File {
	t.Helper()
	f, err := mp4.DecodeFile(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return f
}

func checkInit(t *testing.T, enc []byte, k *JobKey) mp4.DecryptInfo {
	t.Helper()
	f := decode(t, enc)
	ipd, err := mp4.ExtractInitProtectData(f.Init)
	if err != nil || ipd.Tenc == nil {
		t.Fatalf("encrypted init has no tenc: %v", err)
	}
	if got := hex.EncodeToString(ipd.Tenc.DefaultKID); got != k.KID.String() {
		t.Errorf("tenc default KID %s, want %s", got, k.KID)
	}
	if ipd.Scheme != k.Scheme {
		t.Errorf("schm %q, want %q", ipd.Scheme, k.Scheme)
	}
	di, err := mp4.DecryptInit(f.Init)
	if err != nil {
		t.Fatalf("DecryptInit: %v", err)
	}
	return di
}

func checkMedia(t *testing.T, clear, enc []byte, di mp4.DecryptInfo, k *JobKey) {
	t.Helper()
	cf, ef := decode(t, clear), decode(t, enc)
	if len(ef.Segments) == 0 || len(ef.Segments[0].Fragments) == 0 || ef.Segments[0].Fragments[0].Moof.Traf.Senc == nil {
		t.Fatal("encrypted segment has no senc box")
	}
	clearSamples := samples(t, cf)
	if bytes.Equal(clearSamples, samples(t, ef)) {
		t.Fatal("encrypted samples equal the clear ones")
	}
	for _, s := range ef.Segments {
		for _, frag := range s.Fragments {
			if err := mp4.DecryptFragment(frag, di, k.Key[:]); err != nil {
				t.Fatalf("DecryptFragment: %v", err)
			}
		}
	}
	if !bytes.Equal(clearSamples, samples(t, ef)) {
		t.Error("decrypted samples differ from the clear ones")
	}
}

// samples concatenates the sample data of every fragment.
func samples(t *testing.T, f *mp4.File) []byte {
	t.Helper()
	var out []byte
	for _, s := range f.Segments {
		for _, frag := range s.Fragments {
			fss, err := frag.GetFullSamples(nil)
			if err != nil {
				t.Fatalf("samples: %v", err)
			}
			for _, fs := range fss {
				out = append(out, fs.Data...)
			}
		}
	}
	return out
}

// TestEncryptDecryptsWithFFmpeg checks the cenc output with an independent
// decryptor: ffmpeg, given the key, decodes each encrypted DASH video
// segment (after its init) to the same frames as the clear one. (Segments
// are checked one by one, as a player appends them: ffmpeg 5.1's demuxer
// loses the subsample table of a second moof in one concatenated file.)
func TestEncryptDecryptsWithFFmpeg(t *testing.T) {
	t.Parallel()
	dir := mediaDir(t)
	p := newPackager(t, jobsMap{"j": drmSpec("dash", "fmp4")})
	init, media := "init-g1p0-0.mp4", []string{"chunk-g1p0-0-00001.m4s", "chunk-g1p0-0-00002.m4s"}
	stored := encryptTrack(t, p, "j", filepath.Join(dir, "dash"), init, media)
	k, err := p.Keys.Key(context.Background(), "j")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	for _, m := range media {
		clear := append(readFile(t, filepath.Join(dir, "dash", init)), readFile(t, filepath.Join(dir, "dash", m))...)
		enc := append(append([]byte{}, stored[init]...), stored[m]...)
		clearPath, encPath := filepath.Join(tmp, "clear-"+m+".mp4"), filepath.Join(tmp, "enc-"+m+".mp4")
		if err := os.WriteFile(clearPath, clear, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(encPath, enc, 0o644); err != nil {
			t.Fatal(err)
		}
		want := frameMD5(t, clearPath)
		if want == "" {
			t.Fatalf("%s: ffmpeg decoded no frames of the clear segment", m)
		}
		if got := frameMD5(t, encPath, "-decryption_key", hex.EncodeToString(k.Key[:])); got != want {
			t.Errorf("%s: frames decrypted by ffmpeg differ from the clear ones:\n got %s\nwant %s", m, got, want)
		}
		if got := frameMD5(t, encPath); got == want {
			t.Errorf("%s: ffmpeg decoded the encrypted segment without the key to the clear frames", m)
		}
	}
}

// frameMD5 returns ffmpeg's per-frame hashes of the video of path.
func frameMD5(t *testing.T, path string, opts ...string) string {
	t.Helper()
	args := append([]string{"-hide_banner", "-loglevel", "quiet"}, opts...)
	args = append(args, "-i", path, "-map", "0:v", "-f", "framemd5", "-")
	out, _ := exec.Command("ffmpeg", args...).Output() // a failed decode is just different output

	var hashes []string
	for _, line := range strings.Split(string(out), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			f := strings.Split(line, ",")
			hashes = append(hashes, strings.TrimSpace(f[len(f)-1]))
		}
	}
	return strings.Join(hashes, " ")
}

// TestEncryptAES128 encrypts real mpegts segments whole and decrypts them.
func TestEncryptAES128(t *testing.T) {
	t.Parallel()
	dir := mediaDir(t)
	p := newPackager(t, jobsMap{"ts": drmSpec("hls", "mpegts")})
	for _, f := range []string{"video-g1p0-0.ts", "video-g1p0-1.ts"} {
		clear := readFile(t, filepath.Join(dir, "ts", f))
		enc, err := encryptOne(t, p, "ts", f, clear, storedFiles{}.read)
		if err != nil {
			t.Fatal(err)
		}
		k, _ := p.Keys.Key(context.Background(), "ts")
		if bytes.Contains(enc, clear[:188]) || enc[0] == 0x47 && enc[188] == 0x47 {
			t.Errorf("%s: ciphertext still looks like mpegts", f)
		}
		dec, err := DecryptSegmentAES128(enc, k.Key[:], k.IV[:])
		if err != nil || !bytes.Equal(dec, clear) {
			t.Errorf("%s: decrypt gave %d bytes (err %v), want the %d clear bytes", f, len(dec), err, len(clear))
		}
	}
}

// TestHoldMediaUntilInit plays ffmpeg's dash muxer order (first media
// segment, then its init): the segment is held, then stored encrypted
// together with the init, and decrypts to the clear samples.
func TestHoldMediaUntilInit(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(mediaDir(t), "dash")
	p := newPackager(t, jobsMap{"j": drmSpec("dash", "fmp4")})
	ctx := context.Background()
	seg, init := "chunk-g1p0-0-00001.m4s", "init-g1p0-0.mp4"
	files, err := p.Encrypt(ctx, origin.Upload{JobID: "j", File: seg, Clear: readFile(t, filepath.Join(dir, seg)), Stored: storedFiles{}.read})
	if err != nil || len(files) != 0 {
		t.Fatalf("segment before its init: %d files, err %v; want it held", len(files), err)
	}
	files, err = p.Encrypt(ctx, origin.Upload{JobID: "j", File: init, Clear: readFile(t, filepath.Join(dir, init)), Stored: storedFiles{}.read})
	if err != nil || len(files) != 2 || files[0].Name != init || files[1].Name != seg {
		t.Fatalf("init: files %v, err %v; want the init then the held segment", names(files), err)
	}
	k, _ := p.Keys.Key(ctx, "j")
	checkMedia(t, readFile(t, filepath.Join(dir, seg)), files[1].Data, checkInit(t, files[0].Data, k), k)
}

func names(fs []origin.File) []string {
	var n []string
	for _, f := range fs {
		n = append(n, f.Name)
	}
	return n
}
