package drm

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ezlivestreaming/ezlive/internal/redistest"
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
	if k1.Key != k2.Key || k1.KID != k2.KID || k2.Scheme != SchemeCENC || k1.Token == "" {
		t.Errorf("second Ensure made a different key: %+v vs %+v", k1.KID, k2.KID)
	}
	other, _ := a.Ensure(ctx, "j2", Protection{Scheme: SchemeCENC})
	if other.Key == k1.Key || other.KID == k1.KID || other.Token == k1.Token {
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

func licenseServer(t *testing.T) (*httptest.Server, *KeyService) {
	t.Helper()
	ks := NewKeyService(redistest.Start(t).Client(t), nil)
	l := &License{Keys: ks}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /drm/clearkey/{job}", func(w http.ResponseWriter, r *http.Request) { l.ServeClearKey(w, r, r.PathValue("job")) })
	mux.HandleFunc("GET /drm/key/{job}", func(w http.ResponseWriter, r *http.Request) { l.ServeHLSKey(w, r, r.PathValue("job")) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, ks
}

// TestClearKeyLicense checks the W3C ClearKey exchange: the key of a known
// kid comes back as a JWK (base64url, no padding), an unknown kid gets no
// key, a job without keys or a bad body is refused, CORS is open.
func TestClearKeyLicense(t *testing.T) {
	t.Parallel()
	srv, ks := licenseServer(t)
	ctx := context.Background()
	k, err := ks.Ensure(ctx, "job1", Protection{Scheme: SchemeCENC})
	if err != nil {
		t.Fatal(err)
	}
	off, _ := ks.Ensure(ctx, "noclear", Protection{Scheme: SchemeCENC, NoClearKey: true})
	var unknown KID
	unknown[0] = ^k.KID[0]
	tests := []struct {
		name, job, body string
		code            int
		keys            []jwk
	}{
		{"known kid", "job1", `{"kids":["` + k.KID.Base64URL() + `"],"type":"temporary"}`, 200,
			[]jwk{{"oct", k.KID.Base64URL(), base64.RawURLEncoding.EncodeToString(k.Key[:])}}},
		{"unknown kid", "job1", `{"kids":["` + unknown.Base64URL() + `"],"type":"temporary"}`, 200, []jwk{}},
		{"padded kid is not a kid", "job1", `{"kids":["` + base64.URLEncoding.EncodeToString(k.KID[:]) + `"]}`, 200, []jwk{}},
		{"kid of another job", "job1", `{"kids":["` + off.KID.Base64URL() + `"]}`, 200, []jwk{}},
		{"job without key", "nokey", `{"kids":["` + k.KID.Base64URL() + `"]}`, 404, nil},
		{"clear key disabled", "noclear", `{"kids":["` + off.KID.Base64URL() + `"]}`, 403, nil},
		{"not json", "job1", `kids`, 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Post(srv.URL+"/drm/clearkey/"+tt.job, "application/json", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.code || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Fatalf("status %d CORS %q, want %d and *", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), tt.code)
			}
			if tt.code != 200 {
				return
			}
			var got clearKeyResponse
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if got.Type != "temporary" || len(got.Keys) != len(tt.keys) || len(got.Keys) > 0 && got.Keys[0] != tt.keys[0] {
				t.Errorf("response %+v, want keys %+v", got, tt.keys)
			}
		})
	}
}

// TestHLSKey checks the key URI: 16 raw bytes with the job's token only.
func TestHLSKey(t *testing.T) {
	t.Parallel()
	srv, ks := licenseServer(t)
	k, err := ks.Ensure(context.Background(), "job1", Protection{Scheme: SchemeAES128})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, path string
		code       int
	}{
		{"token", "/drm/key/job1?token=" + k.Token, 200},
		{"no token", "/drm/key/job1", 403},
		{"wrong token", "/drm/key/job1?token=x" + k.Token, 403},
		{"unknown job", "/drm/key/job2?token=" + k.Token, 404},
	} {
		resp, err := http.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code {
			t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.code)
		}
		if tt.code == 200 && string(body) != string(k.Key[:]) {
			t.Errorf("%s: body is not the key", tt.name)
		}
		if tt.code != 200 && strings.Contains(string(body), string(k.Key[:])) {
			t.Errorf("%s: refusal leaks the key", tt.name)
		}
	}
}
