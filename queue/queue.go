// Package queue carries commands from the API server to the schedulers:
// AWS SQS across machines, Redis Streams on one. Commands name a job; the job
// itself lives in Redis. Delivery is at-least-once, so handlers are idempotent.
package queue

import (
	"context"
	"time"
)

// Verb is what a command asks for.
type Verb string

// The commands.
const (
	Create Verb = "create"
	Stop   Verb = "stop"
	Resume Verb = "resume"
	Delete Verb = "delete"
)

// Command is one message on the queue.
type Command struct {
	Verb  Verb      `json:"verb"`
	JobID string    `json:"job_id"`
	Sent  time.Time `json:"sent"`
}

// Message is a received command with what is needed to settle it.
type Message struct {
	Command
	ID       string // the queue's message id
	Receipt  string // SQS receipt handle, or the stream entry id
	Received int    // how many times it has been delivered, 1 the first time
}

// Queue is the contract both implementations honour (see queuetest).
type Queue interface {
	// Send enqueues a command.
	Send(ctx context.Context, c Command) error
	// Receive waits up to wait for at most max messages. A message not
	// acknowledged within the visibility timeout is delivered again.
	Receive(ctx context.Context, max int, wait time.Duration) ([]Message, error)
	// Extend keeps a message invisible to other consumers for d more. Redis
	// Streams honours at most its visibility timeout per call, so long
	// handlers extend periodically.
	Extend(ctx context.Context, m Message, d time.Duration) error
	// Ack deletes a handled message.
	Ack(ctx context.Context, m Message) error
	// Ping checks that the queue is reachable (readiness).
	Ping(ctx context.Context) error
	// Depth returns the approximate number of waiting messages and the age of the oldest.
	Depth(ctx context.Context) (int, time.Duration, error)
	Close() error
}
