package drm

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ezlivestreaming/ezlive/internal/redistest"
)

func withKEK(t *testing.T, s *KeyService, b byte) *KeyService {
	t.Helper()
	w, err := s.WithKEK(bytes.Repeat([]byte{b}, KEKBytes))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestKeyWrap checks keys at rest: with a KEK the drm_keys entry is not
// the key (nor its JSON), reads back only with that KEK and under its own
// job id; an entry stored unwrapped before the KEK was set still reads and
// is wrapped in place.
func TestKeyWrap(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	plain := NewKeyService(rdb, nil)
	wrapped := withKEK(t, plain, 1)
	k, err := wrapped.Ensure(ctx, "j1", Protection{Scheme: SchemeCENC})
	if err != nil {
		t.Fatal(err)
	}
	stored := rdb.HGet(ctx, KeyDRMKeys, "j1").Val()
	for _, s := range []string{string(k.Key[:]), hex.EncodeToString(k.Key[:]), base64.StdEncoding.EncodeToString(k.Key[:]), k.KID.String()} {
		if strings.Contains(stored, s) {
			t.Errorf("stored entry %q carries the key or its id", stored)
		}
	}
	if json.Valid([]byte(stored)) || !strings.HasPrefix(stored, wrappedPrefix) {
		t.Errorf("stored entry %q is not wrapped", stored)
	}
	if got, err := wrapped.Key(ctx, "j1"); err != nil || got.Key != k.Key {
		t.Errorf("Key with the KEK: %v", err)
	}
	if _, err := plain.Key(ctx, "j1"); err == nil || !strings.Contains(err.Error(), "EZLIVE_DRM_KEK") {
		t.Errorf("Key without a KEK: %v, want an error naming EZLIVE_DRM_KEK", err)
	}
	if _, err := withKEK(t, plain, 2).Key(ctx, "j1"); err == nil {
		t.Error("Key with another KEK succeeded")
	}
	rdb.HSet(ctx, KeyDRMKeys, "j2", stored)
	if _, err := wrapped.Key(ctx, "j2"); err == nil {
		t.Error("an entry copied to another job id unwrapped")
	}

	old, err := plain.Ensure(ctx, "legacy", Protection{Scheme: SchemeCBCS})
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid([]byte(rdb.HGet(ctx, KeyDRMKeys, "legacy").Val())) {
		t.Fatal("without a KEK the entry is not stored as JSON")
	}
	if got, err := wrapped.Key(ctx, "legacy"); err != nil || got.Key != old.Key {
		t.Fatalf("Key of an unwrapped entry with a KEK: %v", err)
	}
	if now := rdb.HGet(ctx, KeyDRMKeys, "legacy").Val(); !strings.HasPrefix(now, wrappedPrefix) {
		t.Errorf("unwrapped entry not migrated on read: %q", now)
	}
	if got, err := wrapped.Key(ctx, "legacy"); err != nil || got.Key != old.Key {
		t.Errorf("Key after migration: %v", err)
	}
}

// TestParseKEK checks the forms of EZLIVE_DRM_KEK.
func TestParseKEK(t *testing.T) {
	t.Parallel()
	good := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, KEKBytes))
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{good, true},
		{good + "\n", true},
		{base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 16)), false},
		{"not base64!", false},
		{"", false},
	} {
		if _, err := ParseKEK(tt.in); (err == nil) != tt.ok {
			t.Errorf("ParseKEK(%q): %v, want ok %v", tt.in, err, tt.ok)
		}
	}
}
