// Package redisgroup is one member of a Redis Streams consumer group: it
// creates the group, reads entries, claims those a dead member left and
// acknowledges them. It knows no stream's key or contents; its callers do.
package redisgroup

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Member is one consumer of Group on Stream.
type Member struct {
	Redis    redis.UniversalClient
	Stream   string
	Group    string
	Consumer string
}

// CreateGroup creates the group, and the stream if need be, starting at
// from ("0": every entry kept, "$": entries from now on). A group that
// exists already is not an error.
func (m Member) CreateGroup(ctx context.Context, from string) error {
	err := m.Redis.XGroupCreateMkStream(ctx, m.Stream, m.Group, from).Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return err
	}
	return nil
}

// Read returns up to count entries after from: ">" for entries never
// delivered to the group, "0" for this consumer's own pending ones. It waits
// up to block for the first; under a millisecond it does not wait (BLOCK 0
// would wait forever). No entries is not an error.
func (m Member) Read(ctx context.Context, from string, count int64, block time.Duration) ([]redis.XMessage, error) {
	if block < time.Millisecond {
		block = -1 // go-redis: no BLOCK argument
	}
	streams, err := m.Redis.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: m.Group, Consumer: m.Consumer, Streams: []string{m.Stream, from},
		Count: count, Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []redis.XMessage
	for _, st := range streams {
		out = append(out, st.Messages...)
	}
	return out, nil
}

// Claim takes over up to count entries idle longer than minIdle, scanning
// the pending list from start ("0-0" for its beginning). It returns the
// cursor to scan on from.
func (m Member) Claim(ctx context.Context, minIdle time.Duration, start string, count int64) ([]redis.XMessage, string, error) {
	return m.Redis.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: m.Stream, Group: m.Group, Consumer: m.Consumer,
		MinIdle: minIdle, Start: start, Count: count,
	}).Result()
}

// Touch resets the idle time of a pending entry (XCLAIM to this consumer),
// so that no other member takes it for abandoned.
func (m Member) Touch(ctx context.Context, id string) error {
	return m.Redis.XClaimJustID(ctx, &redis.XClaimArgs{
		Stream: m.Stream, Group: m.Group, Consumer: m.Consumer, Messages: []string{id},
	}).Err()
}

// Ack acknowledges an entry: the group is done with it.
func (m Member) Ack(ctx context.Context, id string) error {
	return m.Redis.XAck(ctx, m.Stream, m.Group, id).Err()
}

// IsNoGroup tells whether Redis lost the group (a restart without
// persistence), so that it must be created again.
func IsNoGroup(err error) bool {
	return err != nil && strings.Contains(err.Error(), "NOGROUP")
}
