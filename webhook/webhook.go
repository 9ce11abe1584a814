// Package webhook delivers every job event (state changes, input loss and
// restore, outputs failing and restored) to an operator's URL: it reads the job_events stream as the
// consumer group "webhooks", POSTs each event signed with HMAC-SHA256,
// retries with backoff and acknowledges. It only reads jobs; it never
// changes one.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/metrics"
	"github.com/ezlivestreaming/ezlive/store"
)

// Group is the consumer group of job_events that webhook dispatchers share:
// each event goes to one of them.
const Group = "webhooks"

// The Types of payloads, one per type of job event.
const (
	TypeStateChanged   = "job.state_changed"
	TypeInputLost      = "job.input_lost"      // the state is unchanged
	TypeInputRestored  = "job.input_restored"  // the state is unchanged
	TypeOutputFailing  = "job.output_failing"  // the state is unchanged
	TypeOutputRestored = "job.output_restored" // the state is unchanged
)

// payloadType is the Type of the payload of a job event.
func payloadType(ev jobspec.Event) string {
	if ev.StateChange() {
		return TypeStateChanged
	}
	return "job." + string(ev.Type)
}

// The headers of a delivery.
const (
	HeaderTimestamp = "X-Ezlive-Timestamp" // unix seconds when the request was signed
	HeaderSignature = "X-Ezlive-Signature" // sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
	HeaderEventID   = "X-Ezlive-Event-Id"  // the event's position in job_events: the same on every retry
)

// Payload is the JSON body of a delivery. Job is the job's record when the
// event was first delivered (null if the job is gone by then).
type Payload struct {
	Type    string           `json:"Type"`
	EventId string           `json:"EventId"`
	JobId   string           `json:"JobId"`
	Event   jobspec.Event    `json:"Event"`
	Job     *jobspec.LiveJob `json:"Job"`
}

// JobReader reads a job's current record (store.Store).
type JobReader interface {
	Job(ctx context.Context, id string) (*jobspec.LiveJob, error)
}

// Config wires a Dispatcher. Zero values take the defaults below.
type Config struct {
	Events *store.Store // required: the owner of job_events
	Jobs   JobReader    // nil: payloads carry no record
	URL    string       // required
	Secret string       // empty: deliveries are not signed
	Logger *slog.Logger
	// Registerer gets the delivery counters; nil: not registered.
	Registerer prometheus.Registerer

	Consumer    string        // this dispatcher's name in the group; default host-pid-random
	MaxAttempts int           // attempts per event before it is given up
	MinBackoff  time.Duration // wait after the first failed attempt; doubles each time
	MaxBackoff  time.Duration // longest wait between attempts
	Timeout     time.Duration // per request
	// ClaimIdle is how long an event may stay unacknowledged and untouched
	// before another dispatcher takes it over: its owner is taken for dead.
	// A live owner touches its event while retrying, so ClaimIdle must be
	// well above Timeout.
	ClaimIdle time.Duration
	// Poll is how long one read waits for new events.
	Poll time.Duration
	// From is where the group starts when it is created: "$" (events from
	// now on) or "0" (every event kept).
	From   string
	Client *http.Client
}

// Defaults of Config.
const (
	DefaultMaxAttempts = 10
	DefaultMinBackoff  = time.Second
	DefaultMaxBackoff  = 5 * time.Minute
	DefaultTimeout     = 10 * time.Second
	DefaultClaimIdle   = 10 * time.Minute
	DefaultPoll        = 5 * time.Second
	batch              = 10
)

// Dispatcher is one member of the webhooks group.
type Dispatcher struct {
	cfg                          Config
	events                       *store.EventGroup
	log                          *slog.Logger
	delivered, failed, abandoned prometheus.Counter
	claimCursor                  string
	ownDone                      bool
}

// New checks cfg and fills its defaults; it does not touch Redis.
func New(cfg Config) (*Dispatcher, error) {
	if cfg.Events == nil || cfg.URL == "" {
		return nil, errors.New("webhook: Config.Events and Config.URL are required")
	}
	setDefaults(&cfg)
	d := &Dispatcher{cfg: cfg, events: cfg.Events.EventGroup(Group, cfg.Consumer), log: cfg.Logger.With("webhook_url", cfg.URL, "consumer", cfg.Consumer), claimCursor: "0-0"}
	d.delivered, d.failed, d.abandoned = counter("deliveries_total", "Events delivered to the webhook URL."),
		counter("attempt_failures_total", "Delivery attempts that failed (each is retried until attempts run out)."),
		counter("abandoned_total", "Events given up on after every attempt failed.")
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Counter{d.delivered, d.failed, d.abandoned} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("webhook: register metrics: %w", err)
			}
		}
	}
	return d, nil
}

func setDefaults(cfg *Config) {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.ClaimIdle <= 0 {
		cfg.ClaimIdle = DefaultClaimIdle
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.From == "" {
		cfg.From = "$"
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: cfg.Timeout}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Consumer == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		rand.Read(b)
		cfg.Consumer = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	}
}

func counter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Namespace: metrics.Namespace, Subsystem: "webhook", Name: name, Help: help})
}

// Run delivers events until ctx ends. An event being delivered when ctx
// ends stays pending: this dispatcher's next run, or another dispatcher
// after ClaimIdle, delivers it.
func (d *Dispatcher) Run(ctx context.Context) error {
	if d.cfg.Secret == "" {
		d.log.Warn("webhook deliveries are not signed: no secret configured")
	}
	for ctx.Err() == nil {
		if err := d.events.Create(ctx, d.cfg.From); err != nil {
			d.log.Warn("webhook: create consumer group", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		break
	}
	for ctx.Err() == nil {
		msgs, err := d.next(ctx)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("webhook: read job events", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		for _, m := range msgs {
			if ctx.Err() != nil {
				break
			}
			d.handle(ctx, m)
		}
	}
	return nil
}

// next returns what to deliver now: this consumer's own pending events
// (once, after a restart under the same name), events a dead dispatcher
// left, then new events.
func (d *Dispatcher) next(ctx context.Context) ([]store.JobEvent, error) {
	if !d.ownDone {
		msgs, err := d.events.Pending(ctx, batch)
		if err != nil || len(msgs) > 0 {
			return msgs, err
		}
		d.ownDone = true
	}
	msgs, cursor, err := d.events.Claim(ctx, d.cfg.ClaimIdle, d.claimCursor, batch)
	if err != nil {
		return nil, err
	}
	d.claimCursor = cursor
	if len(msgs) > 0 {
		d.log.Info("webhook: took over events of a dead dispatcher", "count", len(msgs))
		return msgs, nil
	}
	return d.events.New(ctx, batch, d.cfg.Poll)
}

// handle delivers one event, retrying with backoff, then acknowledges it,
// delivered or given up.
func (d *Dispatcher) handle(ctx context.Context, m store.JobEvent) {
	body, jobID, ok := d.payload(ctx, m)
	log := d.log.With("job_id", jobID, "event_id", m.ID)
	if !ok {
		log.Warn("webhook: skipping an unreadable or trimmed event")
		d.ack(ctx, m.ID)
		return
	}
	for attempt := 1; ; attempt++ {
		d.touch(ctx, m.ID)
		err := d.post(ctx, m.ID, body)
		if err == nil {
			d.delivered.Inc()
			d.ack(ctx, m.ID)
			return
		}
		if ctx.Err() != nil {
			return // left pending for the next run or another dispatcher
		}
		d.failed.Inc()
		if attempt >= d.cfg.MaxAttempts {
			log.Error("webhook: event given up", "attempts", attempt, "err", err)
			d.abandoned.Inc()
			d.ack(ctx, m.ID)
			return
		}
		wait := d.backoff(attempt)
		log.Warn("webhook: delivery failed; will retry", "attempt", attempt, "retry_in", wait, "err", err)
		if d.wait(ctx, m.ID, wait); ctx.Err() != nil {
			return
		}
	}
}

// payload builds the body once, so that every retry sends the same bytes.
func (d *Dispatcher) payload(ctx context.Context, m store.JobEvent) ([]byte, string, bool) {
	jobID := m.JobID
	if !m.Readable() {
		return nil, jobID, false
	}
	p := Payload{Type: payloadType(m.Event), EventId: m.ID, JobId: jobID, Event: m.Event}
	if d.cfg.Jobs != nil {
		job, err := d.cfg.Jobs.Job(ctx, jobID)
		if err != nil && jobspec.ErrorCode(err) != jobspec.ENOTFOUND {
			d.log.Warn("webhook: read job for payload; sending none", "job_id", jobID, "err", err)
		}
		p.Job = job
	}
	body, err := json.Marshal(p)
	return body, jobID, err == nil
}

func (d *Dispatcher) post(ctx context.Context, id string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ezlive-webhook/1")
	req.Header.Set(HeaderEventID, id)
	req.Header.Set(HeaderTimestamp, ts)
	if d.cfg.Secret != "" {
		req.Header.Set(HeaderSignature, Sign(d.cfg.Secret, ts, body))
	}
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("receiver answered %s", resp.Status)
	}
	return nil
}

// backoff is the wait after the given failed attempt: MinBackoff doubled
// per attempt, at most MaxBackoff.
func (d *Dispatcher) backoff(attempt int) time.Duration {
	wait := d.cfg.MinBackoff
	for range attempt - 1 {
		if wait *= 2; wait >= d.cfg.MaxBackoff {
			return d.cfg.MaxBackoff
		}
	}
	return min(wait, d.cfg.MaxBackoff)
}

// wait sleeps d, touching the event meanwhile so that no other dispatcher
// takes it for abandoned.
func (d *Dispatcher) wait(ctx context.Context, id string, total time.Duration) {
	end := time.Now().Add(total)
	for left := total; left > 0 && ctx.Err() == nil; left = time.Until(end) {
		sleep(ctx, min(left, d.cfg.ClaimIdle/3))
		d.touch(ctx, id)
	}
}

// touch resets the event's idle time (XCLAIM to ourselves).
func (d *Dispatcher) touch(ctx context.Context, id string) {
	if err := d.events.Touch(ctx, id); err != nil && ctx.Err() == nil {
		d.log.Warn("webhook: touch pending event", "event_id", id, "err", err)
	}
}

func (d *Dispatcher) ack(ctx context.Context, id string) {
	if err := d.events.Ack(context.WithoutCancel(ctx), id); err != nil {
		d.log.Warn("webhook: ack event; it will be delivered again", "event_id", id, "err", err)
	}
}

// Sign returns the X-Ezlive-Signature value of body sent at timestamp ts.
func Sign(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// ErrBadSignature is returned by Verify for a request that was not signed
// with the secret, or too long ago.
var ErrBadSignature = errors.New("webhook: bad or stale signature")

// Verify checks a delivery as a receiver should: the signature over
// timestamp and body, compared in constant time, and a timestamp within
// maxAge of now (against replays).
func Verify(secret string, h http.Header, body []byte, maxAge time.Duration, now time.Time) error {
	ts := h.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrBadSignature
	}
	if age := now.Sub(time.Unix(sec, 0)); age > maxAge || age < -maxAge {
		return ErrBadSignature
	}
	if !hmac.Equal([]byte(h.Get(HeaderSignature)), []byte(Sign(secret, ts, body))) {
		return ErrBadSignature
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
