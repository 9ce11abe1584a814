package queue_test

import (
	"context"
	"regexp"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/ezlivestreaming/ezlive/internal/fauxqstest"
	"github.com/ezlivestreaming/ezlive/queue"
	"github.com/ezlivestreaming/ezlive/queue/queuetest"
)

var notQueueName = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

func sqsConfig(endpoint, name string) queue.SQSConfig {
	return queue.SQSConfig{
		QueueName:         name,
		CreateIfMissing:   true,
		Region:            fauxqstest.Region,
		Endpoint:          endpoint,
		VisibilityTimeout: queuetest.Visibility,
		Credentials:       credentials.NewStaticCredentialsProvider(fauxqstest.AccessKey, fauxqstest.SecretKey, ""),
	}
}

// sqsQueues returns a queuetest factory: one queue per test, named after it,
// with suffix ".fifo" for FIFO queues.
func sqsQueues(endpoint, suffix string) func(t *testing.T) queue.Queue {
	return func(t *testing.T) queue.Queue {
		name := notQueueName.ReplaceAllString(t.Name(), "-")
		q, err := queue.NewSQS(context.Background(), sqsConfig(endpoint, name+suffix))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Close() })
		return q
	}
}

func TestSQS(t *testing.T) {
	t.Parallel()
	endpoint := fauxqstest.Start(t)
	t.Run("FIFO", func(t *testing.T) {
		t.Parallel()
		queuetest.Run(t, sqsQueues(endpoint, ".fifo"))
	})
	t.Run("Standard", func(t *testing.T) {
		t.Parallel()
		queuetest.Run(t, sqsQueues(endpoint, ""))
	})
	t.Run("MissingQueue", func(t *testing.T) {
		t.Parallel()
		cfg := sqsConfig(endpoint, "no-such-queue")
		cfg.CreateIfMissing = false
		if _, err := queue.NewSQS(context.Background(), cfg); err == nil {
			t.Error("NewSQS found a queue that does not exist")
		}
		cfg.QueueName = ""
		if _, err := queue.NewSQS(context.Background(), cfg); err == nil {
			t.Error("NewSQS accepted a config without queue URL or name")
		}
	})
	t.Run("Unreachable", func(t *testing.T) {
		t.Parallel()
		cfg := sqsConfig("http://127.0.0.1:1", "")
		cfg.QueueURL = "http://127.0.0.1:1/000000000000/gone"
		q, err := queue.NewSQS(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Ping(context.Background()); err == nil {
			t.Error("ping succeeded with no server")
		}
	})
}

func BenchmarkSQS(b *testing.B) {
	endpoint := fauxqstest.Start(b)
	for _, suffix := range []string{"", ".fifo"} {
		b.Run("queue"+suffix, func(b *testing.B) {
			q, err := queue.NewSQS(context.Background(), sqsConfig(endpoint, "bench"+notQueueName.ReplaceAllString(suffix, "")+suffix))
			if err != nil {
				b.Fatal(err)
			}
			queuetest.Bench(b, q)
		})
	}
}
