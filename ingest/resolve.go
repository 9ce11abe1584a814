package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
)

// Target is where a stream key's media goes: the job's current transcoder.
type Target struct {
	JobID      string
	Addr       string // host:port of the job's current transcoder RTMP listener
	App        string // "live"
	StreamName string // the stream key the transcoder expects
	// SRTPassphrase is what an SRT publisher of this key must encrypt
	// with; empty: the gateway's Config.SRTPassphrase, if any.
	SRTPassphrase string
}

// Resolver maps a stream key to its job's transcoder. An error means refuse;
// wrap one of the Err* reasons below so the refusal is counted and explained.
type Resolver interface {
	Resolve(ctx context.Context, streamKey string) (Target, error)
}

// Reasons a Resolver refuses a key. The description is what the encoder is told.
var (
	ErrUnknownKey   = errors.New("stream key not recognised")
	ErrJobNotActive = errors.New("the live job of this stream key is not running")
	ErrNotPlaced    = errors.New("the live job of this stream key is starting; retry shortly")
)

// JobFinder finds the job a stream key belongs to (store.Store).
type JobFinder interface {
	JobByStreamKey(ctx context.Context, streamKey string) (*jobspec.LiveJob, error)
}

// JobResolver finds a stream key's job and its transcoder.
type JobResolver struct{ Jobs JobFinder }

var _ Resolver = JobResolver{}

func (r JobResolver) Resolve(ctx context.Context, streamKey string) (Target, error) {
	job, err := r.Jobs.JobByStreamKey(ctx, streamKey)
	if jobspec.ErrorCode(err) == jobspec.ENOTFOUND {
		return Target{}, ErrUnknownKey
	}
	if err != nil {
		return Target{}, err
	}
	switch {
	case !job.State.Active():
		return Target{}, fmt.Errorf("%w (job %s is %s)", ErrJobNotActive, job.Id, job.State)
	case !job.Listening() || job.Ingest_addr == "":
		return Target{}, fmt.Errorf("%w (job %s is %s)", ErrNotPlaced, job.Id, job.State)
	}
	return Target{JobID: job.Id, Addr: job.Ingest_addr, App: App, StreamName: job.StreamKey, SRTPassphrase: job.Srt_passphrase}, nil
}

// PublishLocker allows one publisher per stream key across all gateways.
// The lead's implementation is Redis (SET NX PX, renew and release by owner).
type PublishLocker interface {
	// TryAcquire takes key for owner for ttl; false when another owner holds it.
	TryAcquire(ctx context.Context, key, owner string, ttl time.Duration) (bool, error)
	// Renew extends owner's hold; false when owner no longer holds key.
	Renew(ctx context.Context, key, owner string, ttl time.Duration) (bool, error)
	// Release frees key if owner holds it.
	Release(ctx context.Context, key, owner string) error
	// TakeOver gives key to owner if its holder is an earlier life of the
	// same gateway: its name starts with identity but not with life.
	TakeOver(ctx context.Context, key, identity, life, owner string, ttl time.Duration) (bool, error)
}

// MemoryLocker is a PublishLocker for one process (tests, one machine).
type MemoryLocker struct {
	mu     sync.Mutex
	leases map[string]lease
	now    func() time.Time
}

type lease struct {
	owner   string
	expires time.Time
}

var _ PublishLocker = (*MemoryLocker)(nil)

// NewMemoryLocker returns an empty in-process locker.
func NewMemoryLocker() *MemoryLocker {
	return &MemoryLocker{leases: map[string]lease{}, now: time.Now}
}

func (l *MemoryLocker) TryAcquire(_ context.Context, key, owner string, ttl time.Duration) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if cur, ok := l.leases[key]; ok && cur.owner != owner && now.Before(cur.expires) {
		return false, nil
	}
	l.leases[key] = lease{owner, now.Add(ttl)}
	return true, nil
}

func (l *MemoryLocker) Renew(_ context.Context, key, owner string, ttl time.Duration) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	cur, ok := l.leases[key]
	if !ok || cur.owner != owner || !now.Before(cur.expires) {
		return false, nil
	}
	l.leases[key] = lease{owner, now.Add(ttl)}
	return true, nil
}

func (l *MemoryLocker) TakeOver(_ context.Context, key, identity, life, owner string, ttl time.Duration) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cur, ok := l.leases[key]
	if !ok || !strings.HasPrefix(cur.owner, identity) || strings.HasPrefix(cur.owner, life) {
		return false, nil
	}
	l.leases[key] = lease{owner, l.now().Add(ttl)}
	return true, nil
}

func (l *MemoryLocker) Release(_ context.Context, key, owner string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cur, ok := l.leases[key]; ok && cur.owner == owner {
		delete(l.leases, key)
	}
	return nil
}

// StaticResolver resolves from a fixed map of stream key to Target; for tests,
// benchmarks and a gateway in front of fixed transcoders.
type StaticResolver map[string]Target

func (s StaticResolver) Resolve(_ context.Context, key string) (Target, error) {
	t, ok := s[key]
	if !ok {
		return Target{}, ErrUnknownKey
	}
	return t, nil
}
