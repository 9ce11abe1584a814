package drm

import (
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ezlivestreaming/ezlive/origin"
)

var _ origin.Encrypter = (*Packager)(nil)

// TestOriginEncryptsFFmpegUploads runs ffmpeg's dash muxer against a real
// origin with the Packager plugged in, as in production: what a player
// GETs is encrypted (decodes with the key, not without) and the MPD
// carries the ClearKey signalling.
func TestOriginEncryptsFFmpegUploads(t *testing.T) {
	t.Parallel()
	mediaDir(t) // skips without ffmpeg
	p := newPackager(t, jobsMap{"live1": drmSpec("dash", "fmp4")})
	org, err := origin.New(origin.Config{
		Root:       t.TempDir(),
		Authorizer: origin.AuthorizerFunc(func(context.Context, string, string) error { return nil }),
		Encrypter:  p,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	// ffmpeg does not wait for answers without persistent connections:
	// count the writes in progress to know when the origin has them all.
	// Only the upload's connections are counted, each once: the reads
	// after it reuse connections and must not touch the WaitGroup again.
	var (
		inflight sync.WaitGroup
		mu       sync.Mutex
		counting = true
	)
	type countedConn struct{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if done, ok := r.Context().Value(countedConn{}).(func()); ok {
			defer done()
		}
		r.Header.Set("Authorization", "Bearer T") // what the transcoder's relay adds
		org.ServeHTTP(w, r)
	}))
	srv.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		mu.Lock()
		defer mu.Unlock()
		if !counting {
			return ctx
		}
		inflight.Add(1) // one request per connection (-http_persistent 0)
		return context.WithValue(ctx, countedConn{}, sync.OnceFunc(inflight.Done))
	}
	srv.Start()
	t.Cleanup(func() { srv.Close(); org.Close() })
	base := srv.URL + "/live/live1/"
	out, err := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=2", "-c:v", "libx264", "-preset", "ultrafast", "-threads", "1", "-g", "25",
		"-f", "dash", "-seg_duration", "1", "-use_template", "1", "-use_timeline", "1", "-dash_segment_type", "mp4",
		"-init_seg_name", "init-g1p0-$RepresentationID$.mp4", "-media_seg_name", "chunk-g1p0-$RepresentationID$-$Number%05d$.m4s",
		"-method", "PUT", "-http_persistent", "0", base+"master.mpd").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	flush, err := (&http.Transport{DisableKeepAlives: true}).RoundTrip(mustRequest(t, srv.URL+"/healthz"))
	if err != nil {
		t.Fatal(err)
	}
	flush.Body.Close() // the kernel hands connections to Accept in order: ffmpeg's are all accepted
	mu.Lock()
	counting = false
	mu.Unlock()
	inflight.Wait()
	mpd := httpGet(t, base+"master.mpd")
	if !strings.Contains(string(mpd), `value="cenc" cenc:default_KID=`) || !strings.Contains(string(mpd), "<dashif:Laurl>http://api.test:1080/drm/clearkey/live1</dashif:Laurl>") {
		t.Fatalf("MPD from the origin lacks the protection signalling:\n%s", mpd)
	}
	k, err := p.Keys.Key(context.Background(), "live1")
	if err != nil {
		t.Fatal(err)
	}
	seg := append(httpGet(t, base+"init-g1p0-0.mp4"), httpGet(t, base+"chunk-g1p0-0-00001.m4s")...)
	path := filepath.Join(t.TempDir(), "seg.mp4")
	if err := os.WriteFile(path, seg, 0o644); err != nil {
		t.Fatal(err)
	}
	withKey := frameMD5(t, path, "-decryption_key", hex.EncodeToString(k.Key[:]))
	if n := len(strings.Fields(withKey)); n != 25 {
		t.Errorf("decoded %d frames of the first segment with the key, want 25", n)
	}
	if frameMD5(t, path) == withKey {
		t.Error("the segment decodes the same without the key: not encrypted")
	}
}

func mustRequest(t *testing.T, url string) *http.Request {
	r, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func httpGet(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return b
}
