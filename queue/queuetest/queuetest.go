// Package queuetest is the contract suite every queue.Queue passes: delivery
// at least once, redelivery after a consumer dies, Extend, Ack, per-job order,
// Depth, Ping and cancellation. It owns no queue; callers supply them.
package queuetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/queue"
)

// Visibility is the visibility timeout the queues under test must use:
// short to keep the suite fast, whole seconds for SQS.
const Visibility = 2 * time.Second

// patience bounds how long the suite waits for a message that must come; it
// is a hang guard, far above any expected delay, not a speed check.
const patience = 30 * time.Second

// quiet is how long the suite watches for a message that must not come: a
// message not settled would reappear after one visibility timeout.
const quiet = Visibility + time.Second

// Run runs the contract suite. newQueue returns a consumer of the queue that
// belongs to t: calls with the same t share one queue (each call a separate
// consumer, as two schedulers would be), calls with different t get separate
// queues. Its visibility timeout must be Visibility. Subtests run in parallel.
//
// The order check is skipped for a queue that reports OrderedPerJob() false
// (SQS standard queues); a queue without the method must keep order.
func Run(t *testing.T, newQueue func(t *testing.T) queue.Queue) {
	tests := []struct {
		name string
		run  func(t *testing.T, newQueue func(t *testing.T) queue.Queue)
	}{
		{"RoundTrip", testRoundTrip},
		{"AckRemovesForGood", testAckRemovesForGood},
		{"RedeliveredAfterVisibilityTimeout", testRedelivered},
		{"ConsumerDiesAnotherGetsIt", testConsumerDies},
		{"ExtendKeepsItInvisible", testExtend},
		{"OrderPerJob", testOrderPerJob},
		{"Depth", testDepth},
		{"Ping", testPing},
		{"ReceiveHonoursCancel", testReceiveCancel},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newQueue)
		})
	}
}

func testRoundTrip(t *testing.T, newQueue func(t *testing.T) queue.Queue) {
	q := newQueue(t)
	sent := time.Date(2026, 11, 24, 8, 0, 0, 123456789, time.UTC)
	send(t, q, queue.Command{Verb: queue.Create, JobID: "job-rt", Sent: sent})
	m := receiveOne(t, q)
	if m.Verb != queue.Create || m.JobID != "job-rt" || !m.Sent.Equal(sent) {
		t.Errorf("received %+v, want create job-rt sent %v", m.Command, sent)
	}
	if m.ID == "" || m.Receipt == "" || m.Received != 1 {
		t.Errorf("received id %q receipt %q received %d, want ids set and received 1", m.ID, m.Receipt, m.Received)
	}
	ack(t, q, m)

	// A command sent without a time is stamped by Send.
	send(t, q, queue.Command{Verb: queue.Stop, JobID: "job-rt"})
	m = receiveOne(t, q)
	if m.Verb != queue.Stop || m.Sent.IsZero() {
		t.Errorf("received %+v, want stop with Sent stamped", m.Command)
	}
	ack(t, q, m)
}

func testAckRemovesForGood(t *testing.T, newQueue func(t *testing.T) queue.Queue) {
	q := newQueue(t)
	send(t, q, queue.Command{Verb: queue.Delete, JobID: "job-ack"})
	ack(t, q, receiveOne(t, q))
	expectNone(t, q, quiet)
	if n, _, err := q.Depth(context.Background()); err != nil || n != 0 {
		t.Errorf("depth after ack = %d, %v; want 0", n, err)
	}
}

func testRedelivered(t *testing.T, newQueue func(t *testing.T) queue.Queue) {
	q := newQueue(t)
	send(t, q, queue.Command{Verb: queue.Create, JobID: "job-again"})
	first := receiveOne(t, q) // and never acknowledged
	again := receiveOne(t, q)
	if again.ID != first.ID || again.JobID != "job-again" {
		t.Fatalf("redelivered %s (%+v), want message %s again", again.ID, again.Command, first.ID)
	}
	if again.Received != first.Received+1 {
		t.Errorf("redelivered with Received %d, want %d", again.Received, first.Received+1)
	}
	ack(t, q, again)
	expectNone(t, q, quiet)
}

func testConsumerDies(t *testing.T, newQueue func(t *testing.T) queue.Queue) {
	dying, survivor := newQueue(t), newQueue(t)
	send(t, dying, queue.Command{Verb: queue.Resume, JobID: "job-orphan"})
	held := receiveOne(t, dying)
	if err := dying.Close(); err != nil { // dies holding the message
		t.Fatalf("close: %v", err)
	}
	got := receiveOne(t, survivor)
	if got.ID != held.ID || got.Verb != queue.Resume || got.Received != 2 {
		t.Fatalf("survivor got %s %+v received %d, want %s again with received 2", got.ID, got.Command, got.Received, held.ID)
	}
	ack(t, survivor, got)
}

func testExtend(t *testing.T, newQueue func(t *testing.T) queue.Queue) {
	holder, other := newQueue(t), newQueue(t)
	send(t, holder, queue.Command{Verb: queue.Create, JobID: "job-long"})
	held := receiveOne(t, holder)

	// Keep the message as a busy handler would, extending well before each
	// timeout runs out, while another consumer looks for longer than one
	// visibility timeout.
	stop := make(chan struct{})
	var extends atomic.Int32
	var wg sync.WaitGroup
	var extendErr error
	wg.Go(func() {
		tick := time.NewTicker(Visibility / 4)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if err := holder.Extend(context.Background(), held, Visibility); err != nil {
					extendErr = err
					return
				}
				extends.Add(1)
			}
		}
	})
	expectNone(t, other, 2*Visibility)
	close(stop)
	wg.Wait()
	if extendErr != nil {
		t.Fatalf("extend: %v", extendErr)
	}
	if extends.Load() == 0 {
		t.Fatal("extend never ran")
	}

	// Once no longer extended, it comes back.
	got := receiveOne(t, other)
	if got.ID != held.ID || got.Received != 2 {
		t.Errorf("after extending stopped got %s received %d, want %s received 2", got.ID, got.Received, held.ID)
	}
	ack(t, other, got)
}

func testOrderPerJob(t *testing.T, newQueue func(t *testing.T) queue.Queue) {
	q := newQueue(t)
	if o, ok := q.(interface{ OrderedPerJob() bool }); ok && !o.OrderedPerJob() {
		t.Skip("this queue promises no order (SQS standard queue)")
	}
	lifecycle := []queue.Verb{queue.Create, queue.Stop, queue.Resume, queue.Delete}
	jobs := []string{"job-a", "job-b", "job-c"}
	for _, v := range lifecycle {
		for _, j := range jobs {
			send(t, q, queue.Command{Verb: v, JobID: j})
		}
	}
	got := map[string][]queue.Verb{}
	for want := len(lifecycle) * len(jobs); want > 0; {
		msgs := receive(t, q, 10)
		for _, m := range msgs {
			got[m.JobID] = append(got[m.JobID], m.Verb)
			ack(t, q, m)
		}
		want -= len(msgs)
	}
	for _, j := range jobs {
		if !slices.Equal(got[j], lifecycle) {
			t.Errorf("%s received %v, want %v", j, got[j], lifecycle)
		}
	}
}

func testDepth(t *testing.T, newQueue func(t *testing.T) queue.Queue) {
	q := newQueue(t)
	ctx := context.Background()
	if n, _, err := q.Depth(ctx); err != nil || n != 0 {
		t.Fatalf("depth of a new queue = %d, %v; want 0", n, err)
	}
	for i := range 3 {
		send(t, q, queue.Command{Verb: queue.Create, JobID: fmt.Sprintf("job-depth-%d", i)})
	}
	wantDepth(t, q, 3)
	var held []queue.Message
	for len(held) == 0 {
		held = receive(t, q, 1)
	}
	wantDepth(t, q, 2) // a message being handled is not waiting
	for _, m := range held {
		ack(t, q, m)
	}
	for left := 2; left > 0; {
		msgs := receive(t, q, 10)
		for _, m := range msgs {
			ack(t, q, m)
		}
		left -= len(msgs)
	}
	wantDepth(t, q, 0)
}

func wantDepth(t *testing.T, q queue.Queue, want int) {
	t.Helper()
	n, age, err := q.Depth(context.Background())
	if err != nil || n != want || age < 0 {
		t.Fatalf("depth = %d, age %v, %v; want %d", n, age, err, want)
	}
}

func testPing(t *testing.T, newQueue func(t *testing.T) queue.Queue) {
	if err := newQueue(t).Ping(context.Background()); err != nil {
		t.Errorf("ping: %v", err)
	}
}

func testReceiveCancel(t *testing.T, newQueue func(t *testing.T) queue.Queue) {
	q := newQueue(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	// Nothing is sent: only the cancel can end this wait early.
	msgs, err := q.Receive(ctx, 10, 20*time.Second)
	if !errors.Is(err, context.Canceled) || len(msgs) != 0 {
		t.Errorf("receive after cancel = %d messages, %v; want context.Canceled", len(msgs), err)
	}
}

func send(t *testing.T, q queue.Queue, c queue.Command) {
	t.Helper()
	if err := q.Send(context.Background(), c); err != nil {
		t.Fatalf("send: %v", err)
	}
}

func ack(t *testing.T, q queue.Queue, m queue.Message) {
	t.Helper()
	if err := q.Ack(context.Background(), m); err != nil {
		t.Fatalf("ack: %v", err)
	}
}

// receive waits for at least one message, for up to patience.
func receive(t *testing.T, q queue.Queue, limit int) []queue.Message {
	t.Helper()
	deadline := time.Now().Add(patience)
	for time.Now().Before(deadline) {
		msgs, err := q.Receive(context.Background(), limit, min(time.Until(deadline), 5*time.Second))
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		if len(msgs) > 0 {
			return msgs
		}
	}
	t.Fatalf("no message within %v", patience)
	return nil
}

func receiveOne(t *testing.T, q queue.Queue) queue.Message {
	t.Helper()
	msgs := receive(t, q, 1)
	if len(msgs) != 1 {
		t.Fatalf("received %d messages, asked for 1", len(msgs))
	}
	return msgs[0]
}

// expectNone fails if q delivers anything within d.
func expectNone(t *testing.T, q queue.Queue, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		msgs, err := q.Receive(context.Background(), 10, time.Until(deadline))
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		if len(msgs) > 0 {
			t.Fatalf("received %+v, want nothing", msgs[0])
		}
	}
}

// Bench measures Send, Receive and Ack of one command at a time on q, and
// reports the rate as msgs/s.
func Bench(b *testing.B, q queue.Queue) {
	ctx := context.Background()
	c := queue.Command{Verb: queue.Create, JobID: "job-bench"}
	n := 0
	for b.Loop() {
		if err := q.Send(ctx, c); err != nil {
			b.Fatal(err)
		}
		msgs, err := q.Receive(ctx, 1, 5*time.Second)
		if err != nil || len(msgs) != 1 {
			b.Fatalf("receive %d: %d messages, %v", n, len(msgs), err)
		}
		if err := q.Ack(ctx, msgs[0]); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}
