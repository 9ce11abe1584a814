package drm

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ezlivestreaming/ezlive/internal/redistest"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/origin"
	"github.com/ezlivestreaming/ezlive/playback"
)

// TestKeyService checks that a job's key is made once, survives re-reads,
// agrees between two services on one Redis, never prints, and is deleted.
func TestKeyService(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	a, b := NewKeyService(rdb, nil), NewKeyService(rdb, nil)
	ctx := context.Background()
	if _, err := a.Key(ctx, "j1"); err != ErrNoKey {
		t.Fatalf("Key of a new job: %v, want ErrNoKey", err)
	}
	k1, err := a.Ensure(ctx, "j1", Protection{Scheme: SchemeCENC})
	if err != nil {
		t.Fatal(err)
	}
	k2, err := b.Ensure(ctx, "j1", Protection{Scheme: SchemeCBCS})
	if err != nil {
		t.Fatal(err)
	}
	if k1.Key != k2.Key || k1.KID != k2.KID || k2.Scheme != SchemeCENC {
		t.Errorf("second Ensure made a different key: %+v vs %+v", k1.KID, k2.KID)
	}
	other, _ := a.Ensure(ctx, "j2", Protection{Scheme: SchemeCENC})
	if other.Key == k1.Key || other.KID == k1.KID {
		t.Error("two jobs share key material")
	}
	if s := k1.String(); strings.Contains(s, base64.RawURLEncoding.EncodeToString(k1.Key[:])) || !strings.Contains(s, k1.KID.String()) {
		t.Errorf("JobKey prints as %q: want the key id and not the key", s)
	}
	if err := a.Delete(ctx, "j1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Key(ctx, "j1"); err != ErrNoKey {
		t.Errorf("Key after Delete: %v, want ErrNoKey", err)
	}
}

// TestKeyServiceErrors checks that the key service's failures carry the
// codes the API answers with: Redis down is EUNAVAILABLE, a stored key that
// does not decode is internal, and neither says more than that to a client.
func TestKeyServiceErrors(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	// Few retries: with Redis down, each call would wait out the dial backoff.
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, DialerRetries: 1, MaxRetries: 1})
	t.Cleanup(func() { rdb.Close() })
	ks := NewKeyService(rdb, nil)
	ctx := context.Background()
	if err := rdb.HSet(ctx, KeyDRMKeys, "garbled", "{").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Key(ctx, "garbled"); err == nil || jobspec.ErrorCode(err) != jobspec.EINTERNAL {
		t.Errorf("Key of a garbled entry: %v (code %s), want an internal error", err, jobspec.ErrorCode(err))
	}
	srv.Stop()
	_, kerr := ks.Key(ctx, "j1")
	_, eerr := ks.Ensure(ctx, "j1", Protection{Scheme: SchemeCENC})
	for _, err := range []error{kerr, eerr, ks.Delete(ctx, "j1")} {
		var ae *jobspec.Error
		if !errors.As(err, &ae) || ae.Code != jobspec.EUNAVAILABLE || strings.Contains(ae.Message, srv.Addr) ||
			!strings.Contains(err.Error(), srv.Addr) {
			t.Errorf("with Redis down: %v, want EUNAVAILABLE whose message hides the cause the error keeps", err)
		}
	}
}

// licenseCall is one request to a License handler: what it wrote, and what
// it failed with.
type licenseCall struct {
	rec *httptest.ResponseRecorder
	err error
}

func serveLicense(t *testing.T, serve func(http.ResponseWriter, *http.Request, string) error, method, target, job, body string) licenseCall {
	t.Helper()
	rec := httptest.NewRecorder()
	err := serve(rec, httptest.NewRequest(method, target, strings.NewReader(body)), job)
	if rec.Header().Get("Access-Control-Allow-Origin") != "*" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("%s %s: headers %v, want CORS open and no-store", method, target, rec.Header())
	}
	if err != nil && (rec.Body.Len() > 0 || rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "") {
		t.Errorf("%s %s failed (%v) but wrote %d %q: the caller answers failures", method, target, err, rec.Code, rec.Body)
	}
	return licenseCall{rec, err}
}

// wantFailure checks that a call failed with the jobspec code want, naming
// fields when given, and that the error carries no key.
func (c licenseCall) wantFailure(t *testing.T, k *JobKey, want string, fields ...string) {
	t.Helper()
	var ae *jobspec.Error
	switch {
	case c.err == nil:
		t.Fatalf("succeeded (%s), want %s", c.rec.Body, want)
	case jobspec.ErrorCode(c.err) != want:
		t.Errorf("failed with %v (code %s), want %s", c.err, jobspec.ErrorCode(c.err), want)
	}
	errors.As(c.err, &ae)
	for i, f := range fields {
		if ae == nil || len(ae.Fields) != len(fields) || ae.Fields[i].Field != f {
			t.Errorf("failed with %v, want it to name %v", c.err, fields)
			break
		}
	}
	for _, s := range []string{string(k.Key[:]), base64.RawURLEncoding.EncodeToString(k.Key[:]), hex.EncodeToString(k.Key[:])} {
		if strings.Contains(c.err.Error(), s) {
			t.Errorf("the error carries the key: %v", c.err)
		}
	}
}

// TestClearKeyLicense checks the W3C ClearKey exchange: the key of a known
// kid comes back as a JWK (base64url, no padding), an unknown kid gets no
// key; a bad request fails EINVALID naming each bad field, a job without
// keys ENOTFOUND, a job that hands out no ClearKey keys with a refusal.
// Every request carries a viewer token of its job (TestLicenseViewerToken
// has the refusals).
func TestClearKeyLicense(t *testing.T) {
	t.Parallel()
	ks := NewKeyService(redistest.Start(t).Client(t), nil)
	l := &License{Keys: ks, Viewers: testSigner(t)}
	ctx := context.Background()
	k, err := ks.Ensure(ctx, "job1", Protection{Scheme: SchemeCENC})
	if err != nil {
		t.Fatal(err)
	}
	off, _ := ks.Ensure(ctx, "noclear", Protection{Scheme: SchemeCENC, NoClearKey: true})
	var unknown KID
	unknown[0] = ^k.KID[0]
	key := jwk{"oct", k.KID.Base64URL(), base64.RawURLEncoding.EncodeToString(k.Key[:])}
	tests := []struct {
		name, job, body string
		fail            string   // "" for success, or a jobspec code
		fields          []string // what an EINVALID names
		keys            []jwk
		typ             string
	}{
		{"known kid", "job1", `{"kids":["` + k.KID.Base64URL() + `"],"type":"temporary"}`, "", nil, []jwk{key}, "temporary"},
		{"persistent", "job1", `{"kids":["` + k.KID.Base64URL() + `"],"type":"persistent-license"}`, "", nil, []jwk{key}, "persistent-license"},
		{"no type", "job1", `{"kids":["` + unknown.Base64URL() + `", "` + k.KID.Base64URL() + `"]}`, "", nil, []jwk{key}, "temporary"},
		{"unknown kid", "job1", `{"kids":["` + unknown.Base64URL() + `"],"type":"temporary"}`, "", nil, []jwk{}, "temporary"},
		{"no kids", "job1", `{"kids":[]}`, "", nil, []jwk{}, "temporary"},
		{"kid of another job", "job1", `{"kids":["` + off.KID.Base64URL() + `"]}`, "", nil, []jwk{}, "temporary"},
		{"padded kid is not a kid", "job1", `{"kids":["` + base64.URLEncoding.EncodeToString(k.KID[:]) + `"]}`, jobspec.EINVALID, []string{"kids[0]"}, nil, ""},
		{"short kid", "job1", `{"kids":["` + k.KID.Base64URL() + `", "AAAA"]}`, jobspec.EINVALID, []string{"kids[1]"}, nil, ""},
		{"kid not a string", "job1", `{"kids":[16]}`, jobspec.EINVALID, []string{"kids[0]"}, nil, ""},
		{"kids not a list", "job1", `{"kids":"` + k.KID.Base64URL() + `"}`, jobspec.EINVALID, []string{"kids"}, nil, ""},
		{"kids missing", "job1", `{"type":"temporary"}`, jobspec.EINVALID, []string{"kids"}, nil, ""},
		{"kids null", "job1", `{"kids":null}`, jobspec.EINVALID, []string{"kids"}, nil, ""},
		{"bad type and kid", "job1", `{"kids":["x"],"type":"forever"}`, jobspec.EINVALID, []string{"kids[0]", "type"}, nil, ""},
		{"type not a string", "job1", `{"kids":[],"type":true}`, jobspec.EINVALID, []string{"type"}, nil, ""},
		{"many bad kids", "job1", `{"kids":[` + strings.Repeat(`"x",`, 20) + `"x"]}`, jobspec.EINVALID,
			[]string{"kids[0]", "kids[1]", "kids[2]", "kids[3]", "kids[4]", "kids[5]", "kids[6]", "kids[7]", "kids"}, nil, ""},
		{"not json", "job1", `kids`, jobspec.EINVALID, nil, nil, ""},
		{"not an object", "job1", `["` + k.KID.Base64URL() + `"]`, jobspec.EINVALID, nil, nil, ""},
		{"bad request to a job without key", "nokey", `kids`, jobspec.EINVALID, nil, nil, ""},
		{"job without key", "nokey", `{"kids":["` + k.KID.Base64URL() + `"]}`, jobspec.ENOTFOUND, nil, nil, ""},
		{"clear key disabled", "noclear", `{"kids":["` + off.KID.Base64URL() + `"]}`, jobspec.EFORBIDDEN, nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := serveLicense(t, l.ServeClearKey, "POST", "/drm/clearkey/"+tt.job+"?token="+viewerToken(l, tt.job), tt.job, tt.body)
			if tt.fail != "" {
				c.wantFailure(t, k, tt.fail, tt.fields...)
				return
			}
			if c.err != nil {
				t.Fatal(c.err)
			}
			want, _ := json.Marshal(clearKeyResponse{Keys: tt.keys, Type: tt.typ})
			if got := c.rec.Body.String(); got != string(want)+"\n" || c.rec.Header().Get("Content-Type") != "application/json" {
				t.Errorf("answer %q (%s), want %s", got, c.rec.Header().Get("Content-Type"), want)
			}
		})
	}
}

// TestClearKeyLicenseLimit checks that a body larger than a license request
// can be is refused as such, not read whole.
func TestClearKeyLicenseLimit(t *testing.T) {
	t.Parallel()
	l := &License{Keys: NewKeyService(redistest.Start(t).Client(t), nil), Viewers: testSigner(t)}
	c := serveLicense(t, l.ServeClearKey, "POST", "/drm/clearkey/job1?token="+viewerToken(l, "job1"), "job1", `{"kids":["`+strings.Repeat("A", maxLicenseRequest)+`"]}`)
	var mbe *http.MaxBytesError
	if !errors.As(c.err, &mbe) || mbe.Limit != maxLicenseRequest {
		t.Errorf("a %d-byte body failed with %v, want an *http.MaxBytesError", maxLicenseRequest+13, c.err)
	}
}

// TestHLSKey checks the key URI: 16 raw bytes to a viewer token of the
// job only.
func TestHLSKey(t *testing.T) {
	t.Parallel()
	ks := NewKeyService(redistest.Start(t).Client(t), nil)
	l := &License{Keys: ks, Viewers: testSigner(t)}
	ctx := context.Background()
	k, err := ks.Ensure(ctx, "job1", Protection{Scheme: SchemeAES128})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Ensure(ctx, "noclear", Protection{Scheme: SchemeAES128, NoClearKey: true}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, job, target string
		fail              string
	}{
		{"token", "job1", "/drm/key/job1?token=" + viewerToken(l, "job1"), ""},
		{"no token", "job1", "/drm/key/job1", jobspec.EFORBIDDEN},
		{"token of another job", "job1", "/drm/key/job1?token=" + viewerToken(l, "noclear"), jobspec.EFORBIDDEN},
		{"clear key disabled", "noclear", "/drm/key/noclear?token=" + viewerToken(l, "noclear"), jobspec.EFORBIDDEN},
		{"job without key", "job2", "/drm/key/job2?token=" + viewerToken(l, "job2"), jobspec.ENOTFOUND},
	} {
		c := serveLicense(t, l.ServeHLSKey, "GET", tt.target, tt.job, "")
		if tt.fail != "" {
			c.wantFailure(t, k, tt.fail)
			continue
		}
		if c.err != nil || c.rec.Body.String() != string(k.Key[:]) || c.rec.Header().Get("Content-Type") != "application/octet-stream" {
			t.Errorf("%s: %v, answer %x (%s), want the key", tt.name, c.err, c.rec.Body, c.rec.Header().Get("Content-Type"))
		}
	}
}

// TestLicenseViewerToken checks that a key is only had with a viewer token
// of its job, and that without one a DRM job, a job without DRM and an
// unknown id get the very same refusal: the endpoints tell nothing of
// whether an id exists or has DRM. Today's leak was the ClearKey license
// of anyone who knew the job id (the key id is in the public MPD).
func TestLicenseViewerToken(t *testing.T) {
	t.Parallel()
	ks := NewKeyService(redistest.Start(t).Client(t), nil)
	l := &License{Keys: ks, Viewers: testSigner(t)}
	k, err := ks.Ensure(context.Background(), "drm1", Protection{Scheme: SchemeCENC})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"kids":["` + k.KID.Base64URL() + `"]}`
	var first error
	for _, job := range []string{"drm1", "clear1", "unknown"} {
		for _, token := range []string{"", "?token=", "?token=x", "?token=" + viewerToken(l, "other"), "?token=" + origin.ViewerTokenMarker} {
			for _, c := range []licenseCall{
				serveLicense(t, l.ServeClearKey, "POST", "/drm/clearkey/"+job+token, job, body),
				serveLicense(t, l.ServeHLSKey, "GET", "/drm/key/"+job+token, job, ""),
			} {
				c.wantFailure(t, k, jobspec.EFORBIDDEN)
				if first == nil {
					first = c.err
				}
				if c.err.Error() != first.Error() {
					t.Errorf("%s%s: %v, want the same refusal as %v", job, token, c.err, first)
				}
			}
		}
	}
	without := &License{Keys: ks}
	serveLicense(t, without.ServeClearKey, "POST", "/drm/clearkey/drm1?token="+viewerToken(l, "drm1"), "drm1", body).wantFailure(t, k, jobspec.EFORBIDDEN)
}

func testSigner(t *testing.T) *playback.Signer {
	s, err := playback.NewSigner(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func viewerToken(l *License, job string) string {
	tok, _, err := l.Viewers.(*playback.Signer).Issue(context.Background(), job, time.Minute)
	if err != nil {
		panic(err) // a fixed key issues
	}
	return tok
}
