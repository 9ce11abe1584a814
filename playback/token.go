// Package playback owns viewer tokens: short-lived, HMAC-signed grants to
// watch one live job, which the API issues and the origin (a signed job's
// outputs) and the DRM key endpoints check. It owns the signing key they
// share, kept in Redis under playback_signing_key, and reads job records
// (through the JobSource it is given) only for their playback policy.
package playback

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ezlivestreaming/ezlive/jobspec"
)

// KeySigningKey is the Redis string holding the signing key: made by the
// first process that needs it, read by every other. Deleting it (and
// restarting API and origins, which otherwise keep the old key until a
// token fails to verify and keyRecheck has passed) revokes every token
// issued.
const KeySigningKey = "playback_signing_key"

// The lifetimes a token may be issued for.
const (
	DefaultTTL = time.Hour
	MinTTL     = time.Minute
	MaxTTL     = 24 * time.Hour
)

// signingKeyBytes is the length of a made signing key; a shorter one is
// refused.
const signingKeyBytes = 32

// macDomain separates these MACs from any other use of the key.
const macDomain = "ezlive viewer token v1"

// Signer issues and checks viewer tokens. A token is
// "<expiry, unix seconds>.<base64url HMAC-SHA256 of job id and expiry>":
// it names no job (the URL does) and uses only characters safe in a path
// segment and a query value. It is safe for concurrent use.
type Signer struct {
	rdb redis.UniversalClient // where the key is kept; nil for a fixed key
	now func() time.Time

	mu     sync.Mutex
	key    []byte
	readAt time.Time // when key was read from Redis
}

// keyRecheck is how often at most a token that does not verify makes the
// Signer read the key again: a key made anew in Redis (after a flush, or
// deleted to revoke every token) reaches processes that kept the old one.
const keyRecheck = 10 * time.Second

// sigLen is the length of a token's signature: unpadded base64url of an
// HMAC-SHA256.
var sigLen = base64.RawURLEncoding.EncodedLen(sha256.Size)

// NewSigner returns a Signer with a fixed key of at least 32 bytes.
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < signingKeyBytes {
		return nil, fmt.Errorf("playback: signing key is %d bytes, want at least %d", len(key), signingKeyBytes)
	}
	return &Signer{key: key, now: time.Now}, nil
}

// RedisSigner returns a Signer on the signing key kept in Redis. It reads
// the key on first use and keeps it; when there is none, the first of
// several processes stores one (SETNX) and all of them read back the same
// key. Until Redis answers, no token is issued and none is valid.
func RedisSigner(rdb redis.UniversalClient) *Signer {
	return &Signer{rdb: rdb, now: time.Now}
}

// signingKey returns the key, reading (or making) it in Redis when it is
// not known yet, or when reload asks and it was read over keyRecheck ago.
// Redis is asked outside the mutex, so a slow Redis holds up no check
// that has the key.
func (s *Signer) signingKey(ctx context.Context, reload bool) ([]byte, error) {
	s.mu.Lock()
	key, recent := s.key, s.now().Sub(s.readAt) < keyRecheck
	s.mu.Unlock()
	if key != nil && (!reload || recent || s.rdb == nil) {
		return key, nil
	}
	key, err := s.loadKey(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.key, s.readAt = key, s.now()
	s.mu.Unlock()
	return key, nil
}

// loadKey reads the key from Redis, making it first when there is none.
func (s *Signer) loadKey(ctx context.Context) ([]byte, error) {
	fresh := make([]byte, signingKeyBytes)
	rand.Read(fresh)
	if err := s.rdb.SetNX(ctx, KeySigningKey, fresh, 0).Err(); err != nil {
		return nil, unavailable(err)
	}
	key, err := s.rdb.Get(ctx, KeySigningKey).Bytes()
	if err != nil {
		return nil, unavailable(err)
	}
	if len(key) < signingKeyBytes {
		return nil, fmt.Errorf("playback: %s in Redis is %d bytes, want at least %d", KeySigningKey, len(key), signingKeyBytes)
	}
	return key, nil
}

// unavailable is a Redis failure: EUNAVAILABLE, whose message is all a
// client is shown; the cause stays in the error for the log.
func unavailable(err error) error {
	return fmt.Errorf("playback: read signing key: %w: %w", jobspec.Errorf(jobspec.EUNAVAILABLE, "the token store is unavailable; try again"), err)
}

// Issue returns a token that lets its holder watch jobID until it expires,
// ttl from now (whole seconds, rounded up).
func (s *Signer) Issue(ctx context.Context, jobID string, ttl time.Duration) (string, time.Time, error) {
	key, err := s.signingKey(ctx, false)
	if err != nil {
		return "", time.Time{}, err
	}
	expires := s.now().Add(ttl + time.Second - 1).Truncate(time.Second)
	exp := strconv.FormatInt(expires.Unix(), 10)
	return exp + "." + base64.RawURLEncoding.EncodeToString(mac(key, jobID, exp)), expires, nil
}

// ValidToken reports whether token was issued for jobID and has not
// expired. The MAC is compared in constant time. Without the signing key
// (Redis has not answered yet) no token is valid.
func (s *Signer) ValidToken(ctx context.Context, token, jobID string) bool {
	exp, sig, ok := strings.Cut(token, ".")
	if !ok || exp == "" || strings.TrimLeft(exp, "0123456789") != "" {
		return false
	}
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || !s.now().Before(time.Unix(unix, 0)) {
		return false
	}
	// One spelling per signature: the decoder skips CR and LF, and Strict
	// refuses unused bits set, so no altered token (a line break injected
	// into a manifest, a new CDN cache key) verifies.
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if len(sig) != sigLen || err != nil {
		return false
	}
	for _, reload := range []bool{false, true} {
		key, err := s.signingKey(ctx, reload)
		if err == nil && hmac.Equal(got, mac(key, jobID, exp)) {
			return true
		}
	}
	return false
}

func mac(key []byte, jobID, exp string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(macDomain + "\x00" + jobID + "\x00" + exp))
	return m.Sum(nil)
}

// CheckTTL returns the lifetime to issue for a requested number of seconds
// (0: DefaultTTL), or an error saying the bounds.
func CheckTTL(seconds float64) (time.Duration, error) {
	if seconds == 0 {
		return DefaultTTL, nil
	}
	if seconds < MinTTL.Seconds() || seconds > MaxTTL.Seconds() {
		return 0, errors.New("must be between " + strconv.Itoa(int(MinTTL.Seconds())) + " and " + strconv.Itoa(int(MaxTTL.Seconds())) + " seconds")
	}
	return time.Duration(seconds * float64(time.Second)), nil
}
