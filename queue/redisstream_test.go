package queue_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ezlivestreaming/ezlive/internal/redistest"
	"github.com/ezlivestreaming/ezlive/queue"
	"github.com/ezlivestreaming/ezlive/queue/queuetest"
)

// streamConsumers returns a queuetest factory: one stream per test, a new
// consumer name per call.
func streamConsumers(rdb *redis.Client) func(t *testing.T) queue.Queue {
	var n atomic.Int32
	return func(t *testing.T) queue.Queue {
		q, err := queue.NewRedisStream(rdb, queue.StreamConfig{
			Stream:            "test:" + t.Name(),
			Consumer:          fmt.Sprintf("consumer-%d", n.Add(1)),
			VisibilityTimeout: queuetest.Visibility,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Close() })
		return q
	}
}

func TestRedisStream(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	queuetest.Run(t, streamConsumers(rdb))
}

// A command sent before any scheduler created the group is still delivered,
// and a group lost with Redis's memory is created again.
func TestRedisStreamGroupCreatedLate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	newQueue := streamConsumers(rdb)
	sender, consumer := newQueue(t), newQueue(t)
	for _, verb := range []queue.Verb{queue.Create, queue.Stop} {
		if err := sender.Send(ctx, queue.Command{Verb: verb, JobID: "job-early"}); err != nil {
			t.Fatal(err)
		}
		msgs, err := consumer.Receive(ctx, 10, 10*time.Second)
		if err != nil || len(msgs) != 1 || msgs[0].Verb != verb {
			t.Fatalf("receive = %+v, %v; want the %s command", msgs, err, verb)
		}
		if err := consumer.Ack(ctx, msgs[0]); err != nil {
			t.Fatal(err)
		}
		if err := rdb.FlushAll(ctx).Err(); err != nil { // Redis restarted empty
			t.Fatal(err)
		}
	}
}

// Extend fails once another consumer has claimed the entry, rather than
// taking it back.
func TestRedisStreamExtendAfterClaim(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	newQueue := streamConsumers(rdb)
	slow, other := newQueue(t), newQueue(t)
	if err := slow.Send(ctx, queue.Command{Verb: queue.Create, JobID: "job-slow"}); err != nil {
		t.Fatal(err)
	}
	held, err := slow.Receive(ctx, 1, 10*time.Second)
	if err != nil || len(held) != 1 {
		t.Fatalf("receive = %v, %v", held, err)
	}
	claimed, err := other.Receive(ctx, 1, 30*time.Second)
	if err != nil || len(claimed) != 1 || claimed[0].ID != held[0].ID {
		t.Fatalf("other consumer got %+v, %v; want %s", claimed, err, held[0].ID)
	}
	if err := slow.Extend(ctx, held[0], time.Minute); err == nil {
		t.Error("extend by the consumer that lost the entry succeeded")
	}
	if err := other.Extend(ctx, claimed[0], time.Minute); err != nil {
		t.Errorf("extend by the holder: %v", err)
	}
}

// An entry that is not a command is dropped, not handed to a handler or
// redelivered forever.
func TestRedisStreamDropsUnreadable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	q := streamConsumers(rdb)(t)
	stream := "test:" + t.Name()
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"verb", "create"}}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := q.Send(ctx, queue.Command{Verb: queue.Stop, JobID: "job-fine"}); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.Receive(ctx, 10, 10*time.Second)
	if err != nil || len(msgs) != 1 || msgs[0].JobID != "job-fine" {
		t.Fatalf("receive = %+v, %v; want only job-fine's command", msgs, err)
	}
	if err := q.Ack(ctx, msgs[0]); err != nil {
		t.Fatal(err)
	}
	if n := rdb.XLen(ctx, stream).Val(); n != 0 {
		t.Errorf("%d entries left in the stream, want 0", n)
	}
}

func TestRedisStreamPingDown(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	q, err := queue.NewRedisStream(srv.Client(t), queue.StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Ping(context.Background()); err != nil {
		t.Fatalf("ping: %v", err)
	}
	srv.Stop()
	if err := q.Ping(context.Background()); err == nil {
		t.Error("ping succeeded with Redis down")
	}
}

func BenchmarkRedisStream(b *testing.B) {
	rdb := redistest.Start(b).Client(b)
	q, err := queue.NewRedisStream(rdb, queue.StreamConfig{Stream: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	queuetest.Bench(b, q)
}
