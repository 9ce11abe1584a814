package drm

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/ezlivestreaming/ezlive/jobspec"
)

// KeyDRMKeys is the Redis hash job id → JobKey JSON, wrapped with the
// key-encryption key when one is set (wrap.go). Keys live only here: never
// in the job record, never in a log line, never in GET /jobs.
const KeyDRMKeys = "drm_keys"

// Schemes a JobKey may carry.
const (
	SchemeCENC   = "cenc"    // AES-CTR subsample, DASH
	SchemeCBCS   = "cbcs"    // AES-CBC pattern, HLS fmp4 / CMAF
	SchemeAES128 = "aes-128" // whole-segment AES-CBC, HLS mpegts
)

// ErrNoKey means the job has no content key (not a DRM job, or deleted).
var ErrNoKey = errors.New("drm: no content key for job")

// KID is a 16-byte key id; it prints as 32 hex digits.
type KID [16]byte

func (k KID) String() string { return hex.EncodeToString(k[:]) }

// UUID prints k as 8-4-4-4-12, the form of cenc:default_KID.
func (k KID) UUID() string {
	h := k.String()
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Base64URL is the unpadded base64url form W3C ClearKey uses.
func (k KID) Base64URL() string { return base64.RawURLEncoding.EncodeToString(k[:]) }

// JobKey is a job's content key and what players need beside it.
type JobKey struct {
	KID    KID      `json:"kid"`
	Key    [16]byte `json:"key"`
	IV     [16]byte `json:"iv"`     // cbcs constant IV; aes-128 IV
	Scheme string   `json:"scheme"` // SchemeCENC, SchemeCBCS or SchemeAES128
	// NoClearKey (the spec's Disable_clear_key) closes the ClearKey license
	// and HLS key endpoints: only a commercial system's license server
	// hands the key out.
	NoClearKey bool `json:"no_clear_key,omitempty"`
	// Systems is the signalling a KeyProvider returned for commercial DRM
	// systems; empty for ClearKey-only jobs.
	Systems []SystemSignal `json:"systems,omitempty"`
}

// String hides the key: a JobKey that reaches a log prints its id only.
func (k *JobKey) String() string { return "JobKey{kid:" + k.KID.String() + "}" }

// KeyService creates and reads job keys in Redis.
type KeyService struct {
	rdb      redis.UniversalClient
	provider KeyProvider
	kek      cipher.AEAD // nil: keys are stored unwrapped
}

// NewKeyService returns a KeyService; provider may be nil, then keys are
// generated locally (ClearKey and AES-128 need nothing else).
func NewKeyService(rdb redis.UniversalClient, provider KeyProvider) *KeyService {
	if provider == nil {
		provider = LocalKeys{}
	}
	return &KeyService{rdb: rdb, provider: provider}
}

// Protection is what a job's Drm block asks for.
type Protection struct {
	Scheme     string     // SchemeCENC, SchemeCBCS or SchemeAES128
	Systems    []SystemID // commercial systems (not ClearKey) to signal
	NoClearKey bool       // Disable_clear_key
}

// Ensure returns the job's key, creating it on first use. Concurrent
// callers (several origins) agree: the first HSETNX wins and every caller
// reads back the stored key.
func (s *KeyService) Ensure(ctx context.Context, jobID string, p Protection) (*JobKey, error) {
	if k, err := s.Key(ctx, jobID); err == nil {
		return k, nil
	} else if !errors.Is(err, ErrNoKey) {
		return nil, err
	}
	k, err := s.newKey(ctx, jobID, p)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(k)
	if err != nil {
		return nil, fmt.Errorf("encode key of job %s: %w", jobID, err)
	}
	if err := s.rdb.HSetNX(ctx, KeyDRMKeys, jobID, s.seal(jobID, raw)).Err(); err != nil {
		return nil, unavailable("store key of job "+jobID, err)
	}
	return s.Key(ctx, jobID)
}

func (s *KeyService) newKey(ctx context.Context, jobID string, p Protection) (*JobKey, error) {
	var kid KID
	rand.Read(kid[:])
	ck, err := s.provider.ContentKey(ctx, KeyRequest{ContentID: jobID, KID: kid, Scheme: p.Scheme, Systems: p.Systems})
	if err != nil {
		return nil, fmt.Errorf("content key for job %s: %w", jobID, err)
	}
	k := &JobKey{KID: ck.KID, Key: ck.Key, Scheme: p.Scheme, NoClearKey: p.NoClearKey, Systems: ck.Systems}
	if len(ck.IV) == 16 {
		copy(k.IV[:], ck.IV)
	} else {
		rand.Read(k.IV[:])
	}
	return k, nil
}

// Key returns the job's key, or ErrNoKey; a Redis failure is EUNAVAILABLE.
func (s *KeyService) Key(ctx context.Context, jobID string) (*JobKey, error) {
	stored, err := s.rdb.HGet(ctx, KeyDRMKeys, jobID).Result()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNoKey
	}
	if err != nil {
		return nil, unavailable("read key of job "+jobID, err)
	}
	raw, err := s.open(ctx, jobID, stored)
	if err != nil {
		return nil, err
	}
	var k JobKey
	if err := json.Unmarshal(raw, &k); err != nil {
		return nil, fmt.Errorf("decode key of job %s: %w", jobID, err)
	}
	return &k, nil
}

// Delete forgets the job's key (call it when the job is deleted).
func (s *KeyService) Delete(ctx context.Context, jobID string) error {
	if err := s.rdb.HDel(ctx, KeyDRMKeys, jobID).Err(); err != nil {
		return unavailable("delete key of job "+jobID, err)
	}
	return nil
}

// unavailable is a Redis failure: EUNAVAILABLE, whose message is all a
// client is shown; the cause stays in the error for the log.
func unavailable(what string, err error) error {
	return fmt.Errorf("%s: %w: %w", what, jobspec.Errorf(jobspec.EUNAVAILABLE, "the key store is unavailable; try again"), err)
}
