package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/ezlivestreaming/ezlive/internal/awsconfig"
	"github.com/google/uuid"
)

// SQS limits that shape how the contract maps onto the API.
const (
	sqsMaxBatch      = 10    // ReceiveMessage's MaxNumberOfMessages ceiling
	sqsMaxWait       = 20    // seconds, WaitTimeSeconds ceiling (long polling)
	sqsMaxVisibility = 43200 // seconds, ChangeMessageVisibility ceiling
)

// SQSConfig says which SQS queue to use and how.
type SQSConfig struct {
	// QueueURL names the queue; it wins over QueueName.
	QueueURL string
	// QueueName is resolved with GetQueueUrl when QueueURL is empty. A name
	// ending in ".fifo" is a FIFO queue.
	QueueName string
	// CreateIfMissing creates QueueName when it does not exist (dev, tests).
	// Production queues come from terraform, with their redrive policy.
	CreateIfMissing bool
	// Region; empty takes AWS_REGION or the shared config.
	Region string
	// Endpoint overrides the AWS endpoint, e.g. fauxqs's URL in tests.
	Endpoint string
	// VisibilityTimeout is asked for on every receive; 0 keeps the queue's own.
	// SQS counts whole seconds.
	VisibilityTimeout time.Duration
	// Credentials; nil takes the standard chain (AWS_* environment, shared
	// profile, instance role).
	Credentials aws.CredentialsProvider
}

// SQS is the Queue on AWS SQS, for schedulers on several machines.
//
// Order: a FIFO queue (URL ending ".fifo") delivers one job's commands in the
// order sent, because each command's MessageGroupId is its job id. A standard
// queue gives no order at all; handlers do not rely on it, since each one
// acts on the job's state in Redis rather than on the command's position.
//
// Dead letters: a message received too often is moved by the queue's own
// redrive policy (maxReceiveCount, set where the queue is made, in
// terraform); this code never dead-letters by itself.
type SQS struct {
	client     *sqs.Client
	url        string
	fifo       bool
	visibility int32 // seconds; 0 = the queue's default
}

var _ Queue = (*SQS)(nil)

// NewSQS connects to the queue named by cfg, resolving (and with
// CreateIfMissing creating) it by name when no URL is given.
func NewSQS(ctx context.Context, cfg SQSConfig) (*SQS, error) {
	if cfg.QueueURL == "" && cfg.QueueName == "" {
		return nil, errors.New("sqs: neither queue URL nor queue name given")
	}
	awsCfg, err := awsconfig.Load(ctx, "sqs", cfg.Region, cfg.Credentials)
	if err != nil {
		return nil, err
	}
	client := sqs.NewFromConfig(awsCfg, func(o *sqs.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	q := &SQS{client: client, url: cfg.QueueURL, visibility: ceilSeconds(cfg.VisibilityTimeout, sqsMaxVisibility)}
	if q.url == "" {
		if q.url, err = q.resolve(ctx, cfg); err != nil {
			return nil, err
		}
	}
	q.fifo = strings.HasSuffix(q.url, ".fifo")
	return q, nil
}

// resolve finds the queue URL by name, creating the queue if allowed.
func (q *SQS) resolve(ctx context.Context, cfg SQSConfig) (string, error) {
	out, err := q.client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(cfg.QueueName)})
	if err == nil {
		return aws.ToString(out.QueueUrl), nil
	}
	if !cfg.CreateIfMissing {
		return "", fmt.Errorf("sqs: find queue %s: %w", cfg.QueueName, err)
	}
	attrs := map[string]string{}
	if strings.HasSuffix(cfg.QueueName, ".fifo") {
		attrs[string(types.QueueAttributeNameFifoQueue)] = "true"
	}
	if q.visibility > 0 {
		attrs[string(types.QueueAttributeNameVisibilityTimeout)] = strconv.Itoa(int(q.visibility))
	}
	created, err := q.client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(cfg.QueueName), Attributes: attrs})
	if err != nil {
		return "", fmt.Errorf("sqs: create queue %s: %w", cfg.QueueName, err)
	}
	return aws.ToString(created.QueueUrl), nil
}

// URL is the queue's URL (for logs and readiness output).
func (q *SQS) URL() string { return q.url }

// OrderedPerJob reports whether one job's commands arrive in the order sent:
// only on a FIFO queue.
func (q *SQS) OrderedPerJob() bool { return q.fifo }

// Send enqueues c, stamping Sent when the caller left it zero.
func (q *SQS) Send(ctx context.Context, c Command) error {
	if c.Sent.IsZero() {
		c.Sent = time.Now().UTC()
	}
	body, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("sqs: encode %s command for job %s: %w", c.Verb, c.JobID, err)
	}
	in := &sqs.SendMessageInput{QueueUrl: aws.String(q.url), MessageBody: aws.String(string(body))}
	if q.fifo {
		// One group per job gives per-job order without serialising all jobs.
		// A fresh deduplication id per Send: two identical commands sent on
		// purpose are both delivered; the SDK's own retries reuse the id.
		in.MessageGroupId = aws.String(c.JobID)
		in.MessageDeduplicationId = aws.String(uuid.NewString())
	}
	if _, err := q.client.SendMessage(ctx, in); err != nil {
		return fmt.Errorf("sqs: send %s command for job %s: %w", c.Verb, c.JobID, err)
	}
	return nil
}

// Receive long-polls for up to wait (in whole seconds, at most 20).
func (q *SQS) Receive(ctx context.Context, limit int, wait time.Duration) ([]Message, error) {
	out, err := q.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(q.url),
		MaxNumberOfMessages:         int32(min(max(limit, 1), sqsMaxBatch)),
		WaitTimeSeconds:             ceilSeconds(wait, sqsMaxWait),
		VisibilityTimeout:           q.visibility,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
	})
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("sqs: receive: %w", err)
	}
	msgs := make([]Message, 0, len(out.Messages))
	for _, m := range out.Messages {
		msg, err := sqsMessage(m)
		if err != nil {
			q.dropUnreadable(ctx, m, err)
			continue
		}
		msgs = append(msgs, msg)
	}
	return msgs, nil
}

func sqsMessage(m types.Message) (Message, error) {
	var c Command
	if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &c); err != nil {
		return Message{}, err
	}
	if c.Verb == "" || c.JobID == "" {
		return Message{}, errors.New("no verb or job id")
	}
	received, _ := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	return Message{Command: c, ID: aws.ToString(m.MessageId), Receipt: aws.ToString(m.ReceiptHandle), Received: max(received, 1)}, nil
}

// dropUnreadable deletes a message that is not a command: no retry can make
// it one, and leaving it would only cycle it until the redrive policy acts.
func (q *SQS) dropUnreadable(ctx context.Context, m types.Message, cause error) {
	slog.Warn("dropping unreadable queue message", "message_id", aws.ToString(m.MessageId), "body", aws.ToString(m.Body), "err", cause)
	if err := q.Ack(ctx, Message{ID: aws.ToString(m.MessageId), Receipt: aws.ToString(m.ReceiptHandle)}); err != nil {
		slog.Warn("delete unreadable queue message", "message_id", aws.ToString(m.MessageId), "err", err)
	}
}

// Extend sets m's visibility timeout to d from now (whole seconds).
func (q *SQS) Extend(ctx context.Context, m Message, d time.Duration) error {
	_, err := q.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl:          aws.String(q.url),
		ReceiptHandle:     aws.String(m.Receipt),
		VisibilityTimeout: ceilSeconds(d, sqsMaxVisibility),
	})
	if err != nil {
		return fmt.Errorf("sqs: extend message %s (job %s): %w", m.ID, m.JobID, err)
	}
	return nil
}

// Ack deletes m; call it only once the command's effect is stored.
func (q *SQS) Ack(ctx context.Context, m Message) error {
	_, err := q.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.url), ReceiptHandle: aws.String(m.Receipt)})
	if err != nil {
		return fmt.Errorf("sqs: delete message %s (job %s): %w", m.ID, m.JobID, err)
	}
	return nil
}

// Ping reads one queue attribute: it proves endpoint, credentials and queue.
func (q *SQS) Ping(ctx context.Context) error {
	_, err := q.attributes(ctx)
	return err
}

// Depth returns the visible messages. SQS exposes no age of the oldest
// message as an attribute (only as a CloudWatch metric), so the age is 0.
func (q *SQS) Depth(ctx context.Context) (int, time.Duration, error) {
	attrs, err := q.attributes(ctx)
	if err != nil {
		return 0, 0, err
	}
	n, err := strconv.Atoi(attrs[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	if err != nil {
		return 0, 0, fmt.Errorf("sqs: queue depth of %s: %w", q.url, err)
	}
	return n, 0, nil
}

func (q *SQS) attributes(ctx context.Context) (map[string]string, error) {
	out, err := q.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(q.url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages},
	})
	if err != nil {
		return nil, fmt.Errorf("sqs: attributes of %s: %w", q.url, err)
	}
	return out.Attributes, nil
}

// Close releases nothing: the SDK client holds no resources to free.
func (q *SQS) Close() error { return nil }

// ceilSeconds rounds d up to whole seconds, within [0, limit].
func ceilSeconds(d time.Duration, limit int32) int32 {
	if d <= 0 {
		return 0
	}
	s := (d + time.Second - 1) / time.Second
	return int32(min(s, time.Duration(limit)))
}
