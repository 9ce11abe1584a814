package origin

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// upperEncrypter "encrypts" job1's files by upper-casing them and appending
// what stored() returned for "init", so the test sees it was called with
// the clear upload and could read a stored file.
type upperEncrypter struct{ protectedErr, encryptErr error }

func (e upperEncrypter) Protected(_ context.Context, jobID string) (bool, error) {
	return jobID == "job1", e.protectedErr
}

func (e upperEncrypter) Encrypt(_ context.Context, u Upload) ([]File, error) {
	if e.encryptErr != nil {
		return nil, e.encryptErr
	}
	if u.File == "held" {
		return nil, nil
	}
	init, err := u.Stored("init")
	if err != nil {
		init = []byte("-")
	}
	out := []File{{Name: u.File, Data: append(bytes.ToUpper(u.Clear), init...)}}
	if u.File == "release" {
		out = append(out, File{Name: "held", Data: []byte("HELD")})
	}
	return out, nil
}

// TestEncryptOnUpload checks that a protected job's uploads are stored as
// the Encrypter returns them (with access to the job's stored files),
// other jobs' as sent, and that a failing Encrypter stores nothing.
func TestEncryptOnUpload(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{Encrypter: upperEncrypter{}})
	f.put("/live/job1/init", []byte("i"))
	f.put("/live/job1/seg.m4s", []byte("clear"))
	if _, body := f.get("/live/job1/seg.m4s"); string(body) != "CLEARI-" {
		t.Errorf("protected segment served as %q, want CLEARI-", body)
	}
	f.put("/live/job1/held", []byte("x"))
	if _, ok := f.stored("job1/held"); ok {
		t.Error("a held-back upload was stored")
	}
	f.put("/live/job1/release", []byte("r"))
	if b, _ := f.stored("job1/held"); string(b) != "HELD" {
		t.Errorf("released file stored as %q, want HELD", b)
	}
	resp := f.do(http.MethodPut, "/live/job2/seg.m4s", strings.NewReader("clear"), "Authorization", "Bearer T2")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT job2: %d", resp.StatusCode)
	}
	if _, body := f.get("/live/job2/seg.m4s"); string(body) != "clear" {
		t.Errorf("unprotected segment served as %q", body)
	}

	for _, tt := range []struct {
		name string
		enc  upperEncrypter
		code int
	}{
		{"lookup fails", upperEncrypter{protectedErr: errors.New("redis down")}, http.StatusServiceUnavailable},
		{"encrypt fails", upperEncrypter{encryptErr: errors.New("bad mp4")}, http.StatusInternalServerError},
	} {
		f := newFixture(t, Config{Encrypter: tt.enc})
		resp := f.do(http.MethodPut, "/live/job1/seg.m4s", strings.NewReader("clear"), "Authorization", "Bearer T1")
		if resp.StatusCode != tt.code {
			t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.code)
		}
		if _, ok := f.stored("job1/seg.m4s"); ok {
			t.Errorf("%s: the clear upload was stored", tt.name)
		}
	}
}
