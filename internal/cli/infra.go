package cli

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ezlivestreaming/ezlive/queue"
	"github.com/ezlivestreaming/ezlive/store"
)

// Defaults that run the whole system on one machine.
const (
	defaultRedisAddr     = "127.0.0.1:6379"
	defaultAPIListen     = "127.0.0.1:1080" // the original project's port
	defaultOriginAddr    = "127.0.0.1:1081"
	defaultOriginURL     = "http://" + defaultOriginAddr
	defaultSchedulerAddr = "127.0.0.1:1082"
	defaultIngestPorts   = "20000-20999"
	defaultSQSName       = "ezlive-commands"
)

// commonFlags are the flags every server shares: logging and Redis.
type commonFlags struct {
	redis, redisPassword, logFormat, logLevel *string
	redisSentinels, redisMaster               *string
	sentinelPassword                          *string
	redisTLS                                  *bool
}

func addCommon(fs *flagSet) commonFlags {
	return commonFlags{
		redis:         fs.String("redis", "EZLIVE_REDIS_ADDR", defaultRedisAddr, "Redis address host:port"),
		redisPassword: fs.String("redis-password", "EZLIVE_REDIS_PASSWORD", "", "Redis AUTH password (ElastiCache auth token)"),
		redisTLS:      fs.Bool("redis-tls", "EZLIVE_REDIS_TLS", false, "connect to Redis over TLS"),
		redisSentinels: fs.String("redis-sentinels", "EZLIVE_REDIS_SENTINELS", "",
			"comma-separated Sentinel addresses host:port; when set, Redis is the primary they name and -redis is not used"),
		sentinelPassword: fs.String("redis-sentinel-password", "EZLIVE_REDIS_SENTINEL_PASSWORD", "", "the sentinels' AUTH password (with -redis-sentinels)"),
		redisMaster:      fs.String("redis-master", "EZLIVE_REDIS_MASTER", "mymaster", "master name the sentinels monitor (with -redis-sentinels)"),
		logFormat:        fs.String("log-format", "EZLIVE_LOG_FORMAT", "text", "log format: text or json"),
		logLevel:         fs.String("log-level", "EZLIVE_LOG_LEVEL", "info", "log level: debug, info, warn or error"),
	}
}

// logger builds the process's slog logger and makes it the default.
func (c commonFlags) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(*c.logLevel)); err != nil {
		return nil, usagef("-log-level: %q is not debug, info, warn or error", *c.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch *c.logFormat {
	case "text":
		h = slog.NewTextHandler(os.Stderr, opts)
	case "json":
		h = slog.NewJSONHandler(os.Stderr, opts)
	default:
		return nil, usagef("-log-format: %q is not text or json", *c.logFormat)
	}
	log := slog.New(h)
	slog.SetDefault(log)
	return log, nil
}

// replicaWait bounds the wait for a replica to confirm a new job, under
// Sentinel: under go-redis' 3 s read timeout.
const replicaWait = time.Second

// store connects to Redis: one server (-redis), or the primary the
// sentinels name, followed across failovers (-redis-sentinels), when a new
// job is answered only once a replica has it.
func (c commonFlags) store() (*store.Store, *redis.Client, error) {
	// Few retries: when Redis is down the API should answer 503 at once,
	// not after seconds of redials.
	opts := &redis.Options{Addr: *c.redis, Password: *c.redisPassword, MaxRetries: 1, DialerRetries: 1, PoolSize: 100}
	if *c.redisTLS {
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if *c.redisSentinels == "" {
		rdb := redis.NewClient(opts)
		return store.New(rdb), rdb, nil
	}
	sentinels, err := c.sentinelAddrs()
	if err != nil {
		return nil, nil, err
	}
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName: *c.redisMaster, SentinelAddrs: sentinels,
		Password: opts.Password, SentinelPassword: *c.sentinelPassword, TLSConfig: opts.TLSConfig,
		MaxRetries: opts.MaxRetries, DialerRetries: opts.DialerRetries, PoolSize: opts.PoolSize,
	})
	return store.New(rdb, store.WaitReplicas(1, replicaWait)), rdb, nil
}

// sentinelAddrs checks -redis-sentinels and -redis-master.
func (c commonFlags) sentinelAddrs() ([]string, error) {
	if *c.redisMaster == "" {
		return nil, usagef("-redis-master: empty; the sentinels need the name of the master they monitor")
	}
	addrs := splitList(*c.redisSentinels)
	var bad []string
	for _, a := range addrs {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			bad = append(bad, strconv.Quote(a))
		}
	}
	if len(bad) > 0 || len(addrs) == 0 {
		return nil, usagef("-redis-sentinels: %q: want comma-separated host:port (bad: %s)", *c.redisSentinels, strings.Join(bad, ", "))
	}
	return addrs, nil
}

// queueFlags choose the command queue.
type queueFlags struct {
	kind, sqsURL, sqsName, sqsEndpoint, sqsRegion *string
	sqsCreate                                     *bool
}

func addQueue(fs *flagSet) queueFlags {
	return queueFlags{
		kind:        fs.String("queue", "EZLIVE_QUEUE", "redis", "command queue: redis (Redis Streams, one machine) or sqs"),
		sqsURL:      fs.String("sqs-queue-url", "EZLIVE_SQS_QUEUE_URL", "", "SQS queue URL (wins over -sqs-queue-name)"),
		sqsName:     fs.String("sqs-queue-name", "EZLIVE_SQS_QUEUE_NAME", defaultSQSName, "SQS queue name, resolved when no URL is given"),
		sqsEndpoint: fs.String("sqs-endpoint", "EZLIVE_SQS_ENDPOINT", "", "SQS endpoint override (an SQS-compatible server)"),
		sqsRegion:   fs.String("sqs-region", "AWS_REGION", "", "AWS region of the queue"),
		sqsCreate:   fs.Bool("sqs-create", "EZLIVE_SQS_CREATE", false, "create the SQS queue when missing (development only)"),
	}
}

func (q queueFlags) open(ctx context.Context, rdb *redis.Client) (queue.Queue, error) {
	switch strings.ToLower(*q.kind) {
	case "redis":
		return queue.NewRedisStream(rdb, queue.StreamConfig{})
	case "sqs":
		sq, err := queue.NewSQS(ctx, queue.SQSConfig{
			QueueURL: *q.sqsURL, QueueName: *q.sqsName, Endpoint: *q.sqsEndpoint,
			Region: *q.sqsRegion, CreateIfMissing: *q.sqsCreate,
		})
		if err != nil {
			return nil, fmt.Errorf("open SQS queue: %w", err)
		}
		return sq, nil
	default:
		return nil, usagef("-queue: %q is not redis or sqs", *q.kind)
	}
}

// backend is what every server shares: its logger, the store on Redis and,
// for those that use it, the command queue.
type backend struct {
	log   *slog.Logger
	store *store.Store
	rdb   *redis.Client
	queue queue.Queue // nil when not asked for
}

// openBackend sets up logging and connects to Redis, and to the queue when
// qf is not nil. Close releases what it opened.
func openBackend(ctx context.Context, c commonFlags, qf *queueFlags) (*backend, error) {
	log, err := c.logger()
	if err != nil {
		return nil, err
	}
	st, rdb, err := c.store()
	if err != nil {
		return nil, err
	}
	b := &backend{log: log, store: st, rdb: rdb}
	if qf != nil {
		if b.queue, err = qf.open(ctx, rdb); err != nil {
			rdb.Close()
			return nil, err
		}
	}
	return b, nil
}

func (b *backend) Close() {
	if b.queue != nil {
		b.queue.Close()
	}
	b.rdb.Close()
}
