package store

import (
	"context"
	"errors"
	"slices"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/redis/go-redis/v9"
)

// KeyCapacityChanges counts the times capacity may have appeared: a node's
// reserved cores dropped (reserveLoad counts it with the change) or a
// scheduler saw a node become ready (NoteCapacity). Schedulers retry the
// jobs waiting in queued_jobs when it moves, instead of polling each job.
const KeyCapacityChanges = "capacity_changes" // string: a counter

// CapacityChanges returns the capacity_changes counter (0 when unset).
func (s *Store) CapacityChanges(ctx context.Context) (int64, error) {
	n, err := s.rdb.Get(ctx, KeyCapacityChanges).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return n, wrap(err, "read capacity changes")
}

// NoteCapacity counts a change that may let a waiting job fit, for every
// scheduler to see: a node became ready.
func (s *Store) NoteCapacity(ctx context.Context) error {
	return wrap(s.rdb.Incr(ctx, KeyCapacityChanges).Err(), "note capacity")
}

// JobsByID returns the records of those of ids that exist, by id, reading
// them a page at a time.
func (s *Store) JobsByID(ctx context.Context, ids []string) (map[string]*jobspec.LiveJob, error) {
	out := make(map[string]*jobspec.LiveJob, len(ids))
	for page := range slices.Chunk(ids, 1000) {
		jobs, err := s.jobsByID(ctx, page)
		if err != nil {
			return nil, err
		}
		for _, j := range jobs {
			out[j.Id] = j
		}
	}
	return out, nil
}
