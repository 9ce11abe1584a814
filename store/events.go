package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/redis/go-redis/v9"
)

// JobEvent is one state change read back from job_events.
type JobEvent struct {
	ID    string // stream entry id: the position to read on from
	JobID string
	jobspec.Event
}

// LatestEventID is the position of the newest event ("0" when there is
// none): reading after it returns only what happens from now on.
func (s *Store) LatestEventID(ctx context.Context) (string, error) {
	msgs, err := s.rdb.XRevRangeN(ctx, KeyJobEvents, "+", "-", 1).Result()
	if err != nil {
		return "", wrap(err, "read job events")
	}
	if len(msgs) == 0 {
		return "0", nil
	}
	return msgs[0].ID, nil
}

// JobEvents returns up to count events after position after, waiting up to
// block for the first one (0: do not wait). No events is not an error.
func (s *Store) JobEvents(ctx context.Context, after string, count int64, block time.Duration) ([]JobEvent, error) {
	if block <= 0 {
		block = -1 // go-redis: no BLOCK argument
	}
	streams, err := s.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{KeyJobEvents, after}, Count: count, Block: block}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, wrap(err, "read job events")
	}
	var out []JobEvent
	for _, st := range streams {
		for _, m := range st.Messages {
			out = append(out, decodeEvent(m))
		}
	}
	return out, nil
}

// deletionBatch is how many events one Deletions call reads at most.
const deletionBatch = 500

// Deletions returns the ids of jobs that went to state deleting after
// position after, waiting up to wait for the first event, and the position
// to read on from. With after "" it returns at once, with the position of
// the newest event: the deletions from now on follow.
func (s *Store) Deletions(ctx context.Context, after string, wait time.Duration) ([]string, string, error) {
	if after == "" {
		latest, err := s.LatestEventID(ctx)
		return nil, latest, err
	}
	events, err := s.JobEvents(ctx, after, deletionBatch, wait)
	if err != nil {
		return nil, after, err
	}
	var ids []string
	for _, ev := range events {
		after = ev.ID
		if ev.To == jobspec.StateDeleting {
			ids = append(ids, ev.JobID)
		}
	}
	return ids, after, nil
}

func decodeEvent(m redis.XMessage) JobEvent {
	ev := JobEvent{ID: m.ID}
	ev.JobID, _ = m.Values["job_id"].(string)
	if raw, ok := m.Values["event"].(string); ok {
		json.Unmarshal([]byte(raw), &ev.Event)
	}
	return ev
}
