package playback

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ezlivestreaming/ezlive/internal/redistest"
	"github.com/ezlivestreaming/ezlive/jobspec"
)

func newTestSigner(t *testing.T, b byte) *Signer {
	t.Helper()
	s, err := NewSigner(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestToken checks that a token is valid for its job until it expires and
// for nothing else: not another job, not after its expiry, not with its
// expiry or MAC altered, not from another signing key.
func TestToken(t *testing.T) {
	t.Parallel()
	s := newTestSigner(t, 1)
	now := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { return now }
	ctx := context.Background()
	tok, expires := issue(t, s, "job1")
	if !expires.Equal(now.Add(time.Minute)) {
		t.Errorf("expires %s, want %s", expires, now.Add(time.Minute))
	}
	exp, mac, _ := strings.Cut(tok, ".")
	other := newTestSigner(t, 2)
	other.now = s.now
	for _, tt := range []struct {
		name, token, job string
		at               time.Time
		s                *Signer
		valid            bool
	}{
		{"fresh", tok, "job1", now, s, true},
		{"just before expiry", tok, "job1", expires.Add(-time.Nanosecond), s, true},
		{"at expiry", tok, "job1", expires, s, false},
		{"expired", tok, "job1", expires.Add(time.Hour), s, false},
		{"another job", tok, "job2", now, s, false},
		{"another key", tok, "job1", now, other, false},
		{"expiry moved", "1900000000." + mac, "job1", now, s, false},
		{"expiry with a sign", "+" + exp + "." + mac, "job1", now, s, false},
		{"mac cut", exp + "." + mac[:len(mac)-1], "job1", now, s, false},
		{"mac altered", exp + "." + flip(mac[:1]) + mac[1:], "job1", now, s, false},
		{"no dot", exp + mac, "job1", now, s, false},
		{"empty", "", "job1", now, s, false},
		{"marker", "EZLIVE_VIEWER_TOKEN", "job1", now, s, false},
		{"line break in the mac", exp + "." + mac[:20] + "\r\n" + mac[20:], "job1", now, s, false},
		{"mac's unused bits set", exp + "." + mac[:len(mac)-1] + lastBitsSet(mac[len(mac)-1:]), "job1", now, s, false},
	} {
		at := tt.at
		tt.s.now = func() time.Time { return at }
		if got := tt.s.ValidToken(ctx, tt.token, tt.job); got != tt.valid {
			t.Errorf("%s: ValidToken(%q, %s) = %v, want %v", tt.name, tt.token, tt.job, got, tt.valid)
		}
	}
	if strings.Trim(tok, "0123456789.ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_") != "" {
		t.Errorf("token %q has characters unsafe in a path or query", tok)
	}
}

// TestLoadSigner checks that processes sharing a Redis share the signing
// key, made once: a token one issues, another accepts.
func TestLoadSigner(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	api, origin := RedisSigner(rdb), RedisSigner(rdb)
	tok, _ := issue(t, api, "job1")
	if !origin.ValidToken(ctx, tok, "job1") {
		t.Error("a token issued by one process is refused by another on the same Redis")
	}
	if key := rdb.Get(ctx, KeySigningKey).Val(); len(key) != 32 {
		t.Errorf("stored signing key has %d bytes, want 32", len(key))
	}
	if _, err := NewSigner(make([]byte, 16)); err == nil {
		t.Error("NewSigner took a 16-byte key")
	}

	// The key is made anew (deleted to revoke every token): a process
	// that kept the old one takes the new one's tokens once keyRecheck
	// has passed since it read it.
	rdb.Del(ctx, KeySigningKey)
	restarted := RedisSigner(rdb)
	fresh, _ := issue(t, restarted, "job1")
	if origin.ValidToken(ctx, fresh, "job1") {
		t.Error("the old key was read again within keyRecheck")
	}
	later := time.Now().Add(keyRecheck + time.Second)
	origin.now = func() time.Time { return later }
	if !origin.ValidToken(ctx, fresh, "job1") || origin.ValidToken(ctx, tok, "job1") {
		t.Error("after keyRecheck, a process does not follow the signing key made anew")
	}
}

// TestCheckTTL checks the lifetimes a token may be asked for.
func TestCheckTTL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		seconds float64
		want    time.Duration
		ok      bool
	}{
		{0, DefaultTTL, true}, {60, time.Minute, true}, {86400, 24 * time.Hour, true}, {90.5, 90500 * time.Millisecond, true},
		{59, 0, false}, {86401, 0, false}, {-1, 0, false},
	} {
		got, err := CheckTTL(tt.seconds)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("CheckTTL(%v) = %s, %v; want %s, ok %v", tt.seconds, got, err, tt.want, tt.ok)
		}
	}
}

// flip returns another base64url character than c.
func flip(c string) string {
	if c == "A" {
		return "B"
	}
	return "A"
}

// issue issues a minute's token for job, which s must be able to do.
func issue(t *testing.T, s *Signer, job string) (string, time.Time) {
	t.Helper()
	tok, expires, err := s.Issue(context.Background(), job, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return tok, expires
}

// TestSignerRedisDown checks that without Redis no token is issued (an
// EUNAVAILABLE error) and none is valid, and that the key is read once
// Redis answers.
func TestSignerRedisDown(t *testing.T) {
	t.Parallel()
	srv := redistest.StartPersistent(t) // the key survives the restart
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, DialerRetries: 1, MaxRetries: 1})
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	good := RedisSigner(srv.Client(t))
	tok, _ := issue(t, good, "job1")
	srv.Stop()
	s := RedisSigner(rdb)
	if _, _, err := s.Issue(ctx, "job1", time.Minute); jobspec.ErrorCode(err) != jobspec.EUNAVAILABLE {
		t.Errorf("Issue with Redis down: %v, want EUNAVAILABLE", err)
	}
	if s.ValidToken(ctx, tok, "job1") {
		t.Error("a token is valid before the signing key was read")
	}
	srv.Restart(t)
	if !s.ValidToken(ctx, tok, "job1") {
		t.Error("the token is refused once Redis answers")
	}
}

// lastBitsSet is the base64url character c with the two low bits, unused
// in the last character of an HMAC-SHA256's encoding, set: it decodes to
// the same bytes unless the decoder is strict.
func lastBitsSet(c string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	return string(alphabet[strings.Index(alphabet, c)|3])
}
