package drm

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/origin"
	"github.com/ezlivestreaming/ezlive/playback"
)

var _ origin.Encrypter = (*Packager)(nil)

// TestOriginEncryptsFFmpegUploads runs ffmpeg's dash muxer against a real
// origin with the Packager plugged in, as in production: what a player
// GETs is encrypted (decodes with the key, not without) and the MPD
// carries the ClearKey signalling. The license URL of the MPD served to
// anyone (/live/) yields no key: the job id and the key id in the public
// MPD were enough before. The MPD served under /play/<viewer token>/
// carries the viewer's token in its license URL, and that URL licenses.
func TestOriginEncryptsFFmpegUploads(t *testing.T) {
	t.Parallel()
	mediaDir(t) // skips without ffmpeg
	p := newPackager(t, jobsMap{"live1": drmSpec("dash", "fmp4")})
	signer := testSigner(t)
	org, err := origin.New(origin.Config{
		Root:       t.TempDir(),
		Authorizer: origin.AuthorizerFunc(func(context.Context, string, string) error { return nil }),
		Encrypter:  p,
		Viewers:    playback.NewGuard(signer, p.Jobs.(jobsMap)),
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
	if !strings.Contains(string(mpd), `value="cenc" cenc:default_KID=`) || !strings.Contains(string(mpd), "<dashif:Laurl>http://api.test:1080/drm/clearkey/live1?token="+origin.ViewerTokenMarker+"</dashif:Laurl>") {
		t.Fatalf("MPD from the origin lacks the protection signalling:\n%s", mpd)
	}
	k, err := p.Keys.Key(context.Background(), "live1")
	if err != nil {
		t.Fatal(err)
	}
	license := &License{Keys: p.Keys, Viewers: signer}
	if c := requestLicense(t, license, mpd); c.err == nil {
		t.Errorf("the license URL of the public MPD licensed the key: %s", c.rec.Body)
	}
	tok, _, err := signer.Issue(context.Background(), "live1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	viewerBase := srv.URL + "/play/" + tok + "/live1/"
	c := requestLicense(t, license, httpGet(t, viewerBase+"master.mpd"))
	if c.err != nil || !strings.Contains(c.rec.Body.String(), base64.RawURLEncoding.EncodeToString(k.Key[:])) {
		t.Errorf("the license URL of the viewer's MPD: %v %s, want the key", c.err, c.rec.Body)
	}
	seg := append(httpGet(t, viewerBase+"init-g1p0-0.mp4"), httpGet(t, viewerBase+"chunk-g1p0-0-00001.m4s")...)
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

// requestLicense asks license for the MPD's default key id at the MPD's
// license URL, as a player does.
func requestLicense(t *testing.T, license *License, mpd []byte) licenseCall {
	t.Helper()
	laurl := regexp.MustCompile(`<dashif:Laurl>([^<]*)</dashif:Laurl>`).FindSubmatch(mpd)
	kid := regexp.MustCompile(`cenc:default_KID="([0-9a-f-]{36})"`).FindSubmatch(mpd)
	if laurl == nil || kid == nil {
		t.Fatalf("MPD lacks a license URL or key id:\n%s", mpd)
	}
	raw, _ := hex.DecodeString(strings.ReplaceAll(string(kid[1]), "-", ""))
	u, err := url.Parse(html.UnescapeString(string(laurl[1])))
	if err != nil {
		t.Fatal(err)
	}
	body := `{"kids":["` + base64.RawURLEncoding.EncodeToString(raw) + `"]}`
	return serveLicense(t, license.ServeClearKey, "POST", u.RequestURI(), strings.TrimPrefix(u.Path, "/drm/clearkey/"), body)
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
