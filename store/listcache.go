package store

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// A page of jobs is about 2 KB per job read from Redis, spliced and sent:
// a page of 100 is 190 KB through Redis and the API, which bounds an
// uncached list at a few hundred a second on a small machine. Dashboards
// ask for the same pages again and again, so the store keeps the pages it
// served, each with the jobs_version it was read at: the counter that every
// write of a record (createJob, compareAndSwapJob, DeleteJob) moves in the
// same step. A page is served again while the counter has not moved and
// it is younger than its maxAge, for one GET instead of the page's reads.
// What a client wrote (a create, a stop, a delete) is in the next page it
// asks for; what a heartbeat wrote (job_live: stats, last heartbeat) and
// the origin's sweep measured (job_bytes) do not move the counter, and are
// at most maxAge old, as old as heartbeats are apart.

// DefaultListCacheAge is how long a list page is served from memory at
// most: one heartbeat interval.
const DefaultListCacheAge = time.Second

// maxCachedPages bounds the pages kept; past it the oldest go first.
const maxCachedPages = 1024

type listCache struct {
	maxAge time.Duration
	mu     sync.Mutex
	pages  map[string]cachedPage
}

type cachedPage struct {
	version string
	at      time.Time
	body    []byte // shared by every answer: never written to
	next    string
}

func newListCache(maxAge time.Duration) *listCache {
	if maxAge <= 0 {
		return nil
	}
	return &listCache{maxAge: maxAge, pages: map[string]cachedPage{}}
}

// pageKey names a page by what was asked.
func pageKey(opt ListOptions) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(opt.Limit))
	b.WriteByte(' ')
	b.WriteString(opt.Cursor)
	for _, st := range opt.States {
		b.WriteByte(' ')
		b.WriteString(string(st))
	}
	return b.String()
}

// get returns the page kept for key if it was read at version and is
// fresh.
func (c *listCache) get(key, version string, now time.Time) (cachedPage, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.pages[key]
	return p, ok && p.version == version && now.Sub(p.at) < c.maxAge
}

func (c *listCache) put(key string, p cachedPage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pages[key]; !ok && len(c.pages) >= maxCachedPages {
		c.dropOldest()
	}
	c.pages[key] = p
}

// dropOldest removes the oldest quarter of the pages.
func (c *listCache) dropOldest() {
	ats := make([]time.Time, 0, len(c.pages))
	for _, p := range c.pages {
		ats = append(ats, p.at)
	}
	slices.SortFunc(ats, time.Time.Compare)
	cut := ats[len(ats)/4]
	for k, p := range c.pages {
		if !p.at.After(cut) {
			delete(c.pages, k)
		}
	}
}

// jobsVersion reads jobs_version ("" before any write).
func (s *Store) jobsVersion(ctx context.Context) (string, error) {
	v, err := s.rdb.Get(ctx, KeyJobsVersion).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, wrap(err, "list jobs")
}

// cachedList is ListJobsJSON through the cache: list reads the page when
// the cache has none at the current version.
func (s *Store) cachedList(ctx context.Context, opt ListOptions, list func() ([]byte, string, error)) ([]byte, string, error) {
	version, err := s.jobsVersion(ctx)
	if err != nil {
		return nil, "", err
	}
	key, now := pageKey(opt), time.Now()
	if p, ok := s.lists.get(key, version, now); ok {
		return p.body, p.next, nil
	}
	body, next, err := list()
	if err == nil {
		// Read at version or later: a write since moved the counter, and
		// the next ask reads again.
		s.lists.put(key, cachedPage{version: version, at: now, body: body, next: next})
	}
	return body, next, err
}
