package playback

import (
	"context"
	"sync"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
)

// policyCacheTTL bounds how long a job's policy is reused without asking
// Redis. A policy never changes for a job; this bounds memory, and how
// long a deleted job's outputs stay public. While the store cannot answer,
// a known policy is kept past it, so a Redis outage cuts no viewer.
const policyCacheTTL = time.Minute

// maxPolicies bounds the remembered policies (see remember).
const maxPolicies = 4096

// JobSource reads job records (store.Store does).
type JobSource interface {
	Job(ctx context.Context, id string) (*jobspec.LiveJob, error)
	// KeptJob stands in for a deleted job whose recordings are kept: it
	// has the job's playback policy.
	KeptJob(ctx context.Context, id string) (*jobspec.LiveJob, error)
}

// Guard answers the origin's questions (origin.Viewers): whether a job's
// outputs need a viewer token, and whether a token is valid.
type Guard struct {
	*Signer
	Jobs JobSource

	mu       sync.Mutex
	policies map[string]policy
}

type policy struct {
	signed  bool
	expires time.Time
}

// NewGuard returns a Guard over jobs with signer.
func NewGuard(signer *Signer, jobs JobSource) *Guard {
	return &Guard{Signer: signer, Jobs: jobs, policies: map[string]policy{}}
}

// TokenRequired reports whether jobID's outputs are served only with a
// viewer token: a signed job's, and an unknown job's (a deleted job's
// outputs until they are swept); a deleted job's kept recordings follow
// its policy. A store failure is returned unless the job's policy was
// known before.
func (g *Guard) TokenRequired(ctx context.Context, jobID string) (bool, error) {
	now := g.now()
	g.mu.Lock()
	p, ok := g.policies[jobID]
	g.mu.Unlock()
	if ok && now.Before(p.expires) {
		return p.signed, nil
	}
	job, err := g.Jobs.Job(ctx, jobID)
	if jobspec.ErrorCode(err) == jobspec.ENOTFOUND {
		job, err = g.Jobs.KeptJob(ctx, jobID)
	}
	switch {
	case jobspec.ErrorCode(err) == jobspec.ENOTFOUND:
		// Not remembered: made-up ids must not push the known jobs'
		// policies out, which carry them through a store outage.
		return true, nil
	case err != nil && !ok:
		return false, err
	case err != nil:
		// The known policy, kept another while: a request a minute pays
		// for asking the store that is down.
	default:
		p = policy{signed: jobspec.PlaybackSignedOf(job.Spec)}
	}
	p.expires = now.Add(policyCacheTTL)
	g.remember(jobID, p, now)
	return p.signed, nil
}

// remember keeps a job's policy, making room by dropping expired policies
// first, then any one.
func (g *Guard) remember(jobID string, p policy, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.policies) >= maxPolicies {
		for id, q := range g.policies {
			if !now.Before(q.expires) {
				delete(g.policies, id)
			}
		}
	}
	for id := range g.policies {
		if len(g.policies) < maxPolicies {
			break
		}
		delete(g.policies, id)
	}
	g.policies[jobID] = p
}
