package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ezlivestreaming/ezlive/internal/redisgroup"
)

// Defaults for StreamConfig.
const (
	DefaultStream     = "ezlive:commands"
	DefaultGroup      = "schedulers"
	DefaultVisibility = 30 * time.Second
)

// maxBlock bounds one blocking XREADGROUP so that Receive notices a cancelled
// context and entries abandoned by a dead consumer while it waits.
const maxBlock = time.Second

// Stream entry fields.
const (
	fieldVerb  = "verb"
	fieldJobID = "job_id"
	fieldSent  = "sent"
)

// StreamConfig names the stream, its consumer group and this consumer.
type StreamConfig struct {
	Stream   string // default DefaultStream
	Group    string // default DefaultGroup: every scheduler shares it
	Consumer string // default hostname-pid: unique per scheduler process
	// VisibilityTimeout is how long a delivered entry may stay unacknowledged
	// before another consumer claims it (XAUTOCLAIM's min-idle).
	VisibilityTimeout time.Duration // default DefaultVisibility
}

// RedisStream is the Queue on a Redis stream with one consumer group, for
// the whole system on one machine.
//
// An entry lives from XADD until its Ack (XACK and XDEL together), so the
// stream holds exactly the unsettled commands. A consumer that dies leaves
// its entries pending; after VisibilityTimeout of idleness any other consumer
// claims them (XAUTOCLAIM) and the delivery count grows. Entries are
// delivered in the order sent, so one job's commands arrive in order; two
// consumers may still hold neighbouring commands of one job at once, which
// the state-based handlers tolerate.
type RedisStream struct {
	rdb    *redis.Client
	cfg    StreamConfig
	member redisgroup.Member
	ready  atomic.Bool // consumer group known to exist
}

var _ Queue = (*RedisStream)(nil)

// NewRedisStream uses rdb, which stays the caller's to close. The consumer
// group is created on first use.
func NewRedisStream(rdb *redis.Client, cfg StreamConfig) (*RedisStream, error) {
	if rdb == nil {
		return nil, errors.New("redis stream: no redis client")
	}
	if cfg.Stream == "" {
		cfg.Stream = DefaultStream
	}
	if cfg.Group == "" {
		cfg.Group = DefaultGroup
	}
	if cfg.Consumer == "" {
		host, _ := os.Hostname()
		cfg.Consumer = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if cfg.VisibilityTimeout <= 0 {
		cfg.VisibilityTimeout = DefaultVisibility
	}
	if cfg.VisibilityTimeout < time.Millisecond {
		return nil, errors.New("redis stream: visibility timeout under 1ms")
	}
	member := redisgroup.Member{Redis: rdb, Stream: cfg.Stream, Group: cfg.Group, Consumer: cfg.Consumer}
	return &RedisStream{rdb: rdb, cfg: cfg, member: member}, nil
}

// OrderedPerJob reports that one job's commands arrive in the order sent.
func (s *RedisStream) OrderedPerJob() bool { return true }

// Send appends c to the stream, stamping Sent when the caller left it zero.
func (s *RedisStream) Send(ctx context.Context, c Command) error {
	if c.Sent.IsZero() {
		c.Sent = time.Now().UTC()
	}
	err := s.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: s.cfg.Stream,
		Values: []any{fieldVerb, string(c.Verb), fieldJobID, c.JobID, fieldSent, c.Sent.Format(time.RFC3339Nano)},
	}).Err()
	if err != nil {
		return fmt.Errorf("redis stream: send %s command for job %s: %w", c.Verb, c.JobID, err)
	}
	return nil
}

// Receive returns entries abandoned by other consumers first, then new ones,
// waiting up to wait for either. It blocks in steps of at most a second, so
// a cancelled ctx ends the wait within one step.
func (s *RedisStream) Receive(ctx context.Context, limit int, wait time.Duration) ([]Message, error) {
	limit = max(limit, 1)
	deadline := time.Now().Add(wait)
	for {
		msgs, err := s.receiveOnce(ctx, limit, min(time.Until(deadline), s.cfg.VisibilityTimeout/2, maxBlock))
		if err != nil || len(msgs) > 0 {
			return msgs, err
		}
		if !time.Now().Before(deadline) {
			return nil, nil
		}
	}
}

func (s *RedisStream) receiveOnce(ctx context.Context, limit int, block time.Duration) ([]Message, error) {
	msgs, err := s.readOnce(ctx, limit, block)
	if redisgroup.IsNoGroup(err) { // Redis lost the group: create it and read again
		s.ready.Store(false)
		msgs, err = s.readOnce(ctx, limit, block)
	}
	return msgs, err
}

func (s *RedisStream) readOnce(ctx context.Context, limit int, block time.Duration) ([]Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.ensureGroup(ctx); err != nil {
		return nil, err
	}
	msgs, err := s.claimAbandoned(ctx, limit)
	if err != nil || len(msgs) > 0 {
		return msgs, err
	}
	msgs, err = s.readNew(ctx, limit, block)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return msgs, err
}

// claimAbandoned takes over entries idle longer than the visibility timeout.
func (s *RedisStream) claimAbandoned(ctx context.Context, limit int) ([]Message, error) {
	entries, _, err := s.member.Claim(ctx, s.cfg.VisibilityTimeout, "0-0", int64(limit))
	if err != nil {
		return nil, fmt.Errorf("redis stream: claim abandoned entries: %w", err)
	}
	if len(entries) == 0 {
		return nil, nil
	}
	counts, err := s.deliveryCounts(ctx, entries)
	if err != nil {
		return nil, err
	}
	return s.messages(ctx, entries, counts), nil
}

// deliveryCounts reads each entry's delivery count from the pending list;
// XAUTOCLAIM has just incremented it.
func (s *RedisStream) deliveryCounts(ctx context.Context, entries []redis.XMessage) (map[string]int, error) {
	cmds := make([]*redis.XPendingExtCmd, len(entries))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, e := range entries {
			cmds[i] = p.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: s.cfg.Stream, Group: s.cfg.Group, Start: e.ID, End: e.ID, Count: 1})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redis stream: delivery counts: %w", err)
	}
	counts := make(map[string]int, len(entries))
	for _, c := range cmds {
		for _, p := range c.Val() {
			counts[p.ID] = int(p.RetryCount)
		}
	}
	return counts, nil
}

// readNew waits up to block for entries never delivered to the group.
func (s *RedisStream) readNew(ctx context.Context, limit int, block time.Duration) ([]Message, error) {
	entries, err := s.member.Read(ctx, ">", int64(limit), block)
	if err != nil {
		return nil, fmt.Errorf("redis stream: read new entries: %w", err)
	}
	return s.messages(ctx, entries, nil), nil
}

// messages turns entries into Messages; counts is nil for first deliveries.
func (s *RedisStream) messages(ctx context.Context, entries []redis.XMessage, counts map[string]int) []Message {
	msgs := make([]Message, 0, len(entries))
	for _, e := range entries {
		c, err := streamCommand(e.Values)
		if err != nil {
			s.dropUnreadable(ctx, e, err)
			continue
		}
		msgs = append(msgs, Message{Command: c, ID: e.ID, Receipt: e.ID, Received: max(counts[e.ID], 1)})
	}
	return msgs
}

func streamCommand(v map[string]any) (Command, error) {
	verb, _ := v[fieldVerb].(string)
	job, _ := v[fieldJobID].(string)
	sent, _ := v[fieldSent].(string)
	if verb == "" || job == "" {
		return Command{}, errors.New("no verb or job id")
	}
	t, err := time.Parse(time.RFC3339Nano, sent)
	if err != nil {
		return Command{}, fmt.Errorf("sent time: %w", err)
	}
	return Command{Verb: Verb(verb), JobID: job, Sent: t}, nil
}

// dropUnreadable settles an entry that is not a command: no retry can make
// it one, and there is no dead-letter queue to park it in.
func (s *RedisStream) dropUnreadable(ctx context.Context, e redis.XMessage, cause error) {
	slog.Warn("dropping unreadable queue entry", "message_id", e.ID, "values", e.Values, "err", cause)
	if err := s.Ack(ctx, Message{ID: e.ID, Receipt: e.ID}); err != nil {
		slog.Warn("delete unreadable queue entry", "message_id", e.ID, "err", err)
	}
}

// extendScript resets the idle time of an entry still pending with this
// consumer. Checking the owner first keeps a late Extend from taking back an
// entry that another consumer has already claimed.
// KEYS[1] stream; ARGV group, consumer, entry id, idle ms.
var extendScript = redis.NewScript(`
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2])
if #p == 0 then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'IDLE', ARGV[4], 'JUSTID')
return 1
`)

// Extend keeps m from other consumers for d more, but at most for the
// visibility timeout: a pending entry carries only an idle clock, which
// Extend resets, and Redis refuses idle times below zero. Handlers keep a
// message by extending it periodically, which honours this bound.
func (s *RedisStream) Extend(ctx context.Context, m Message, d time.Duration) error {
	idle := max(s.cfg.VisibilityTimeout-d, 0)
	ok, err := extendScript.Run(ctx, s.rdb, []string{s.cfg.Stream},
		s.cfg.Group, s.cfg.Consumer, m.Receipt, idle.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("redis stream: extend entry %s (job %s): %w", m.ID, m.JobID, err)
	}
	if ok == 0 {
		return fmt.Errorf("redis stream: extend entry %s (job %s): no longer held by %s", m.ID, m.JobID, s.cfg.Consumer)
	}
	return nil
}

// Ack acknowledges and deletes m in one transaction; call it only once the
// command's effect is stored.
func (s *RedisStream) Ack(ctx context.Context, m Message) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAck(ctx, s.cfg.Stream, s.cfg.Group, m.Receipt)
		p.XDel(ctx, s.cfg.Stream, m.Receipt)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis stream: ack entry %s (job %s): %w", m.ID, m.JobID, err)
	}
	return nil
}

// Ping checks that Redis answers.
func (s *RedisStream) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis stream: ping: %w", err)
	}
	return nil
}

// Depth returns the entries not yet delivered to any consumer and the age of
// the oldest unsettled entry (its id is its XADD time).
func (s *RedisStream) Depth(ctx context.Context) (int, time.Duration, error) {
	if err := s.ensureGroup(ctx); err != nil {
		return 0, 0, err
	}
	var length *redis.IntCmd
	var pending *redis.XPendingCmd
	var first *redis.XMessageSliceCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		length = p.XLen(ctx, s.cfg.Stream)
		pending = p.XPending(ctx, s.cfg.Stream, s.cfg.Group)
		first = p.XRangeN(ctx, s.cfg.Stream, "-", "+", 1)
		return nil
	})
	if err != nil {
		if redisgroup.IsNoGroup(err) {
			s.ready.Store(false)
		}
		return 0, 0, fmt.Errorf("redis stream: depth: %w", err)
	}
	n := max(int(length.Val()-pending.Val().Count), 0)
	var age time.Duration
	if entries := first.Val(); len(entries) > 0 {
		age = max(time.Since(entryTime(entries[0].ID)), 0)
	}
	return n, age, nil
}

// entryTime is when an entry with an auto-generated id was added.
func entryTime(id string) time.Time {
	ms, _, _ := strings.Cut(id, "-")
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Now()
	}
	return time.UnixMilli(n)
}

// Close does nothing: the Redis client belongs to the caller, and this
// consumer's pending entries must stay for others to claim.
func (s *RedisStream) Close() error { return nil }

// ensureGroup creates the stream and group once. The group starts at the
// beginning of the stream: every entry still there is unsettled, including
// those sent before any scheduler ran.
func (s *RedisStream) ensureGroup(ctx context.Context) error {
	if s.ready.Load() {
		return nil
	}
	if err := s.member.CreateGroup(ctx, "0"); err != nil {
		return fmt.Errorf("redis stream: create group %s on %s: %w", s.cfg.Group, s.cfg.Stream, err)
	}
	s.ready.Store(true)
	return nil
}
