package drm

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// KEKBytes is the length of a key-encryption key: AES-256.
const KEKBytes = 32

// wrappedPrefix starts a wrapped entry of drm_keys: "kek1:" and the
// base64 of nonce ‖ AES-256-GCM(JobKey JSON), the job id as associated
// data (an entry moved to another job does not open). An entry without it
// is a JobKey's JSON as stored before wrapping.
const wrappedPrefix = "kek1:"

// ParseKEK reads a key-encryption key: 32 bytes in standard base64.
func ParseKEK(s string) ([]byte, error) {
	kek, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(kek) != KEKBytes {
		return nil, fmt.Errorf("want %d bytes in base64 (openssl rand -base64 32)", KEKBytes)
	}
	return kek, nil
}

// WithKEK returns a KeyService like s that wraps the keys it stores with
// kek (KEKBytes long), and unwraps them as it reads them. An entry stored
// unwrapped (before a KEK was set) is wrapped in place when first read.
func (s *KeyService) WithKEK(kek []byte) (*KeyService, error) {
	block, err := aes.NewCipher(kek)
	if err != nil || len(kek) != KEKBytes {
		return nil, fmt.Errorf("drm: key-encryption key must be %d bytes", KEKBytes)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("drm: key-encryption key: %w", err)
	}
	w := *s
	w.kek = aead
	return &w, nil
}

// seal is what Ensure stores for a key's JSON: wrapped when s has a KEK.
func (s *KeyService) seal(jobID string, raw []byte) string {
	if s.kek == nil {
		return string(raw)
	}
	nonce := make([]byte, s.kek.NonceSize(), s.kek.NonceSize()+len(raw)+s.kek.Overhead())
	rand.Read(nonce)
	return wrappedPrefix + base64.StdEncoding.EncodeToString(s.kek.Seal(nonce, nonce, raw, []byte(jobID)))
}

// open returns the JSON of a stored entry, migrating an unwrapped one.
func (s *KeyService) open(ctx context.Context, jobID, stored string) ([]byte, error) {
	sealed, wrapped := strings.CutPrefix(stored, wrappedPrefix)
	switch {
	case !wrapped:
		s.migrate(ctx, jobID, stored)
		return []byte(stored), nil
	case s.kek == nil:
		return nil, fmt.Errorf("key of job %s is wrapped and this process has no key-encryption key (EZLIVE_DRM_KEK)", jobID)
	}
	b, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(b) < s.kek.NonceSize() {
		return nil, fmt.Errorf("key of job %s: wrapped entry does not decode", jobID)
	}
	raw, err := s.kek.Open(nil, b[:s.kek.NonceSize()], b[s.kek.NonceSize():], []byte(jobID))
	if err != nil {
		return nil, fmt.Errorf("unwrap key of job %s: not the key-encryption key it was wrapped with, or the entry was altered", jobID)
	}
	return raw, nil
}

// migrateScript replaces an entry only if it is still the one read, so a
// key deleted meanwhile is not brought back.
var migrateScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
end
return 0`)

// migrate wraps an unwrapped entry in place when s has a KEK. A failure
// leaves it for the next read.
func (s *KeyService) migrate(ctx context.Context, jobID, stored string) {
	if s.kek != nil && strings.HasPrefix(stored, "{") {
		_ = migrateScript.Run(ctx, s.rdb, []string{KeyDRMKeys}, jobID, stored, s.seal(jobID, []byte(stored))).Err()
	}
}
