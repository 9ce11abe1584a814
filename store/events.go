package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/ezlivestreaming/ezlive/internal/redisgroup"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/redis/go-redis/v9"
)

// JobEvent is one event (a state change, an input or output event) read back from
// job_events.
type JobEvent struct {
	ID    string // stream entry id: the position to read on from
	JobID string
	jobspec.Event
	unreadable bool
}

// Readable tells whether the entry held a job id and an event: one that
// does not (trimmed, or not written by this package) carries only its ID.
func (e JobEvent) Readable() bool { return !e.unreadable }

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
		if ev.StateChange() && ev.To == jobspec.StateDeleting {
			ids = append(ids, ev.JobID)
		}
	}
	return ids, after, nil
}

func decodeEvent(m redis.XMessage) JobEvent {
	ev := JobEvent{ID: m.ID}
	ev.JobID, _ = m.Values["job_id"].(string)
	raw, _ := m.Values["event"].(string)
	err := json.Unmarshal([]byte(raw), &ev.Event)
	ev.unreadable = ev.JobID == "" || err != nil
	return ev
}

func decodeEvents(msgs []redis.XMessage) []JobEvent {
	out := make([]JobEvent, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, decodeEvent(m))
	}
	return out
}

// EventGroup is one member of a consumer group on job_events: each event
// goes to one member of the group, which acknowledges it once handled.
type EventGroup struct {
	m redisgroup.Member
}

// EventGroup returns consumer's membership of group; nothing is read or
// created until it is used.
func (s *Store) EventGroup(group, consumer string) *EventGroup {
	return &EventGroup{redisgroup.Member{Redis: s.rdb, Stream: KeyJobEvents, Group: group, Consumer: consumer}}
}

// Create creates the group if it does not exist, starting at from: "$"
// (events from now on) or "0" (every event kept).
func (g *EventGroup) Create(ctx context.Context, from string) error {
	return wrap(g.m.CreateGroup(ctx, from), "create job events group "+g.m.Group)
}

// Pending returns up to count events delivered to this consumer and not yet
// acknowledged (after a restart under the same name).
func (g *EventGroup) Pending(ctx context.Context, count int64) ([]JobEvent, error) {
	msgs, err := g.m.Read(ctx, "0", count, 0)
	return decodeEvents(msgs), wrap(err, "read pending job events")
}

// New returns up to count events never delivered to the group, waiting up
// to block for the first.
func (g *EventGroup) New(ctx context.Context, count int64, block time.Duration) ([]JobEvent, error) {
	msgs, err := g.m.Read(ctx, ">", count, block)
	return decodeEvents(msgs), wrap(err, "read new job events")
}

// Claim takes over up to count events another member left idle longer than
// minIdle, scanning from cursor ("0-0" at first); it returns the cursor to
// go on from.
func (g *EventGroup) Claim(ctx context.Context, minIdle time.Duration, cursor string, count int64) ([]JobEvent, string, error) {
	msgs, next, err := g.m.Claim(ctx, minIdle, cursor, count)
	if err != nil {
		return nil, cursor, wrap(err, "claim job events")
	}
	return decodeEvents(msgs), next, nil
}

// Touch keeps a pending event from being claimed by another member.
func (g *EventGroup) Touch(ctx context.Context, id string) error {
	return wrap(g.m.Touch(ctx, id), "touch job event "+id)
}

// Ack settles an event for the group.
func (g *EventGroup) Ack(ctx context.Context, id string) error {
	return wrap(g.m.Ack(ctx, id), "ack job event "+id)
}
