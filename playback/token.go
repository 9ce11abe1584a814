// Package playback owns viewer tokens: short-lived, HMAC-signed grants to
// watch one live job, which the API issues and the origin (a signed job's
// outputs) and the DRM key endpoints check. It owns the signing key they
// share, kept in Redis under playback_signing_key; it touches nothing else.
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
// restarting API and origins) revokes every token issued.
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

	mu  sync.Mutex
	key []byte
}

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
// not known yet.
func (s *Signer) signingKey(ctx context.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key != nil {
		return s.key, nil
	}
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
	s.key = key
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
	key, err := s.signingKey(ctx)
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
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return false
	}
	key, err := s.signingKey(ctx)
	return err == nil && hmac.Equal(got, mac(key, jobID, exp))
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
