package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ezlivestreaming/ezlive/apiserver"
	"github.com/ezlivestreaming/ezlive/drm"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/localdriver"
	"github.com/ezlivestreaming/ezlive/metrics"
	"github.com/ezlivestreaming/ezlive/origin"
	"github.com/ezlivestreaming/ezlive/playback"
	"github.com/ezlivestreaming/ezlive/queue"
	"github.com/ezlivestreaming/ezlive/scheduler"
	"github.com/ezlivestreaming/ezlive/store"
	"github.com/ezlivestreaming/ezlive/testfeed"
	"github.com/ezlivestreaming/ezlive/web"
)

// --- api ---

type apiOptions struct {
	common                commonFlags
	queue                 queueFlags
	listen, playback, tok *string
	kek                   *string
	shakaDir              *string
	feeds, insecure       *bool
	feedSize              *string
	ingestGateway         *string
	ingestGatewaySRT      *string
	drain                 *time.Duration
	limits                apiLimits
}

// apiLimits are the API's admission limits (apiserver.Config).
type apiLimits struct{ maxQueued, clientQuota *int }

// Defaults of the admission limits.
const (
	defaultMaxQueued   = 10000
	defaultClientQuota = 1000
)

// addFeedSize is the test patterns' frame size (-feeds).
func addFeedSize(fs *flagSet) *string {
	return fs.String("feed-size", "EZLIVE_FEED_SIZE", testfeed.DefaultSize.String(), "frame size of the test patterns the demo page pushes, WIDTHxHEIGHT")
}

func addLimits(fs *flagSet) apiLimits {
	return apiLimits{
		maxQueued: fs.Int("max-queued", "EZLIVE_MAX_QUEUED", defaultMaxQueued,
			"refuse new and resumed jobs (429) while this many wait for capacity (0: no limit)"),
		clientQuota: fs.Int("client-quota", "EZLIVE_CLIENT_QUOTA", defaultClientQuota,
			"refuse a client's new jobs (429) while it has this many not yet deleted; a client is the API token, or else the remote address (0: no limit)"),
	}
}

func (l apiLimits) check() error {
	if *l.maxQueued < 0 {
		return usagef("-max-queued: %d is negative (0 means no limit)", *l.maxQueued)
	}
	if *l.clientQuota < 0 {
		return usagef("-client-quota: %d is negative (0 means no limit)", *l.clientQuota)
	}
	return nil
}

func apiFlags() (*flagSet, *apiOptions) {
	fs := newFlagSet("api")
	return fs, &apiOptions{
		common:   addCommon(fs),
		queue:    addQueue(fs),
		listen:   fs.String("listen", "EZLIVE_API_LISTEN", defaultAPIListen, "address the API listens on"),
		playback: fs.String("playback-base-url", "EZLIVE_PLAYBACK_BASE_URL", defaultOriginURL, "public base URL of the origin, for playback URLs"),
		tok:      fs.String("token", "EZLIVE_API_TOKEN", "", "bearer token the API requires (empty: none)"),
		kek:      addKEK(fs),
		insecure: addInsecure(fs),
		shakaDir: fs.String("shaka-dir", "EZLIVE_SHAKA_DIR", web.DefaultShakaDir, "directory of the Shaka Player build for the demo page"),
		feeds:    fs.Bool("feeds", "EZLIVE_FEEDS", false, "let the demo page push test patterns from this process (POST /jobs/:id/feed)"),
		feedSize: addFeedSize(fs),
		ingestGateway: fs.String("ingest-gateway", "EZLIVE_INGEST_GATEWAY", "",
			"base of the stable ingest URLs, e.g. rtmp://ingest.example.com/live (empty: publishers push to each transcoder)"),
		ingestGatewaySRT: fs.String("ingest-srt-gateway", "EZLIVE_INGEST_SRT_GATEWAY", "",
			"the gateway's SRT address, e.g. srt://ingest.example.com:9710 (empty: no SRT ingest URL)"),
		drain:  addDrain(fs, "EZLIVE_API_DRAIN", defaultDrain),
		limits: addLimits(fs),
	}
}

func runAPI(ctx context.Context, args []string) error {
	fs, o := apiFlags()
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	b, err := openBackend(ctx, o.common, &o.queue)
	if err != nil {
		return err
	}
	defer b.Close()
	api, closeAPI, err := o.server(b, metrics.NewRegistry())
	if err != nil {
		return err
	}
	defer closeAPI()
	return serve(ctx, b.log, "api", *o.listen, api.Handler(), drain{api, *o.drain})
}

func addInsecure(fs *flagSet) *bool {
	return fs.Bool("insecure", "EZLIVE_API_INSECURE", false, "let the API listen beyond loopback without -token")
}

// check refuses what the API must not start with, before anything starts.
func (o *apiOptions) check() error {
	if err := o.checkExposure(); err != nil {
		return err
	}
	if _, err := o.feedPattern(); err != nil {
		return err
	}
	return o.limits.check()
}

// feedPattern is -feed-size, the test patterns' frame size.
func (o *apiOptions) feedPattern() (testfeed.Size, error) {
	size, err := testfeed.ParseSize(*o.feedSize)
	if err != nil {
		return size, usagef("-feed-size: %v", err)
	}
	return size, nil
}

// checkExposure refuses to serve the whole API without a token to anyone
// beyond this machine, unless the operator says so.
func (o *apiOptions) checkExposure() error {
	if *o.tok != "" || *o.insecure || isLoopback(*o.listen) {
		return nil
	}
	return usagef("-listen %s is not loopback: set -token (EZLIVE_API_TOKEN) or pass -insecure", *o.listen)
}

// isLoopback reports whether addr (host:port) listens on this machine only:
// 127.0.0.0/8, ::1 or localhost. Other names are not resolved.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

func (o *apiOptions) server(b *backend, reg *prometheus.Registry) (*apiserver.Server, func(), error) {
	log := b.log
	if _, err := url.Parse(*o.playback); err != nil || !strings.HasPrefix(*o.playback, "http") {
		return nil, nil, usagef("-playback-base-url: %q is not an http(s) URL", *o.playback)
	}
	signer := playback.RedisSigner(b.rdb)
	license, err := apiDRM(b, *o.kek, signer)
	if err != nil {
		return nil, nil, err
	}
	cfg := apiserver.Config{
		Store: b.store, Queue: b.queue, PlaybackBaseURL: strings.TrimSuffix(*o.playback, "/"), Token: *o.tok, Logger: log,
		Web: web.Handler(web.Config{ShakaDir: *o.shakaDir}), Metrics: reg,
		IngestGateway: *o.ingestGateway, IngestGatewaySRT: *o.ingestGatewaySRT,
		DRM: license, Playback: signer, Recordings: b.store,
		MaxQueued: *o.limits.maxQueued, ClientQuota: *o.limits.clientQuota,
	}
	closeFeeds := func() {}
	if *o.feeds {
		size, err := o.feedPattern()
		if err != nil {
			return nil, nil, err
		}
		feeds := testfeed.New("", size, log)
		cfg.Feed, closeFeeds = feeds, feeds.Close
	}
	srv, err := apiserver.New(cfg)
	if err != nil {
		closeFeeds()
		return nil, nil, err
	}
	return srv, closeFeeds, nil
}

// --- origin ---

type originOptions struct {
	common       commonFlags
	listen, root *string
	storage      storageFlags
	drm          drmFlags
	drain        *time.Duration
	uploadIdle   *time.Duration
	uploadRate   *int
	failStatic   *time.Duration
	recRetention *time.Duration
}

func originFlags() (*flagSet, *originOptions) {
	fs := newFlagSet("origin")
	return fs, &originOptions{
		common:  addCommon(fs),
		listen:  fs.String("listen", "EZLIVE_ORIGIN_LISTEN", defaultOriginAddr, "address the origin listens on"),
		root:    fs.String("root", "EZLIVE_ORIGIN_ROOT", "data/origin", "directory the outputs are stored in (with -storage s3: uploads in progress)"),
		storage: addStorage(fs),
		drm:     addDRM(fs),
		drain:   addDrain(fs, "EZLIVE_ORIGIN_DRAIN", defaultDrain),
		uploadIdle: fs.Duration("upload-idle-timeout", "EZLIVE_ORIGIN_UPLOAD_IDLE_TIMEOUT", origin.DefaultUploadIdleTimeout,
			"fail an upload that sends no byte for this long (readers that follow it end too)"),
		uploadRate: fs.Int("upload-min-rate", "EZLIVE_ORIGIN_UPLOAD_MIN_RATE", origin.DefaultUploadMinRate,
			"fail an upload that sends fewer bytes/s than this over 10 s (negative: no minimum)"),
		failStatic: fs.Duration("fail-static", "EZLIVE_ORIGIN_FAIL_STATIC", origin.DefaultFailStatic,
			"while Redis cannot answer, keep taking an upload token allowed within this long (negative: never)"),
		recRetention: addRecordingRetention(fs),
	}
}

// addRecordingRetention is the origin's -recording-retention flag.
func addRecordingRetention(fs *flagSet) *time.Duration {
	return fs.Duration("recording-retention", "EZLIVE_ORIGIN_RECORDING_RETENTION", 0,
		"remove a recording this long after its last segment, e.g. 720h for 30 days (0: keep until deleted)")
}

func runOrigin(ctx context.Context, args []string) error {
	fs, o := originFlags()
	if err := fs.parse(args); err != nil {
		return err
	}
	b, err := openBackend(ctx, o.common, nil)
	if err != nil {
		return err
	}
	defer b.Close()
	log, st := b.log, b.store
	enc, err := o.drm.encrypter(b.rdb, st, "", log)
	if err != nil {
		return err
	}
	storage, jobStorage, err := o.storage.storage(ctx, st)
	if err != nil {
		return err
	}
	srv, err := origin.New(origin.Config{
		Root: *o.root, Storage: storage, JobStorage: jobStorage, Authorizer: uploadAuthorizer{st}, Encrypter: enc, Logger: log,
		Viewers: playback.NewGuard(playback.RedisSigner(b.rdb), st), Recordings: st,
		UploadIdleTimeout: *o.uploadIdle, UploadMinRate: int64(*o.uploadRate), FailStatic: *o.failStatic,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	sweeper, err := srv.NewSweeper(origin.SweeperConfig{Retention: st, Recordings: st, RecordingMaxAge: *o.recRetention, Sizes: st})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", *o.listen)
	if err != nil {
		return fmt.Errorf("origin: listen on %s: %w", *o.listen, err)
	}
	// Ready when Redis answers: every upload is authorized there.
	health := apiserver.NewHealth(map[string]func(context.Context) error{"redis": st.Ping})
	hs := srv.HTTPServer(l.Addr().String())
	hs.Handler = withMetrics(withHealth(hs.Handler, health), originRegistry(srv))
	return runAll(ctx, log, sweeper.Run, func(ctx context.Context) error { return serveOn(ctx, log, "origin", l, hs, drain{health, *o.drain}) })
}

// The origin asks the store which jobs are deleted, and removes their
// outputs; which jobs record, and which recordings are deleted.
var (
	_ origin.Retention          = (*store.Store)(nil)
	_ origin.Recordings         = (*store.Store)(nil)
	_ origin.RecordingRetention = (*store.Store)(nil)
)

// uploadAuthorizer checks uploads against the store's current upload token;
// when Redis cannot answer, the origin says 503 rather than 403.
type uploadAuthorizer struct{ st *store.Store }

func (a uploadAuthorizer) AuthorizeUpload(ctx context.Context, jobID, token string) error {
	err := a.st.AuthorizeUpload(ctx, jobID, token)
	if jobspec.ErrorCode(err) == jobspec.EUNAVAILABLE {
		return fmt.Errorf("%w: %v", origin.ErrAuthUnavailable, err)
	}
	return err
}

// --- scheduler ---

type schedulerOptions struct {
	common                  commonFlags
	queue                   queueFlags
	driver, originURL       *string
	bin, strategy           *string
	heartbeat               *time.Duration
	attempts                *int
	outputTimeout           *time.Duration
	ingestHost, ingestPorts *string
	cpu                     *float64
	nomad                   nomadFlags
	listen                  *string
	webhook                 webhookFlags
}

func schedulerFlags() (*flagSet, *schedulerOptions) {
	fs := newFlagSet("scheduler")
	return fs, &schedulerOptions{
		common:    addCommon(fs),
		queue:     addQueue(fs),
		driver:    fs.String("driver", "EZLIVE_DRIVER", "local", "where transcoders run: local (child processes) or nomad"),
		originURL: fs.String("origin", "EZLIVE_ORIGIN_URL", defaultOriginURL, "origin base URL transcoders upload to"),
		bin: fs.String("ezlive-bin", "EZLIVE_BIN", "",
			"ezlive binary the transcoders run (default: this executable with -driver local; `ezlive` from the worker's PATH with -driver nomad)"),
		strategy:    fs.String("strategy", "EZLIVE_STRATEGY", string(scheduler.LeastLoaded), "placement strategy: least-loaded, round-robin or random"),
		heartbeat:   fs.Duration("heartbeat-timeout", "EZLIVE_HEARTBEAT_TIMEOUT", scheduler.DefaultHeartbeatTimeout, "a transcoder silent this long is re-placed"),
		attempts:    fs.Int("max-attempts", "EZLIVE_MAX_ATTEMPTS", scheduler.DefaultMaxAttempts, "re-placements after failures before a job fails"),
		ingestHost:  fs.String("ingest-host", "EZLIVE_INGEST_HOST", "127.0.0.1", "local driver: address transcoders listen on and publishers reach"),
		ingestPorts: fs.String("ingest-ports", "EZLIVE_INGEST_PORTS", defaultIngestPorts, "local driver: ingest port range LOW-HIGH"),
		cpu:         fs.Float64("cpu", "EZLIVE_NODE_CPU", 0, "local driver: cores offered to transcoders (0: all)"),
		nomad:       addNomad(fs, "ezlive-workers"),
		listen:      fs.String("listen", "EZLIVE_SCHEDULER_LISTEN", defaultSchedulerAddr, "address of the scheduler's /healthz, /readyz and /metrics (empty: none)"),
		webhook:     addWebhook(fs),

		outputTimeout: addOutputFailureTimeout(fs),
	}
}

func runScheduler(ctx context.Context, args []string) error {
	fs, o := schedulerFlags()
	if err := fs.parse(args); err != nil {
		return err
	}
	b, err := openBackend(ctx, o.common, &o.queue)
	if err != nil {
		return err
	}
	defer b.Close()
	log, st, rdb, q := b.log, b.store, b.rdb, b.queue
	driver, closeDriver, err := o.openDriver(log)
	if err != nil {
		return err
	}
	defer closeDriver()
	reg := metrics.NewRegistry()
	sched, err := o.scheduler(st, q, driver, drm.NewKeyService(rdb, nil), schedulerMetrics(reg, st, q), log)
	if err != nil {
		return err
	}
	hooks, err := o.webhook.dispatcher(st, reg, log)
	if err != nil {
		return err
	}
	log.Info("scheduler running", "driver", *o.driver, "strategy", *o.strategy)
	if *o.listen == "" {
		return runAll(ctx, log, sched.Run, hooks)
	}
	deps := map[string]func(context.Context) error{"redis": st.Ping, "queue": q.Ping}
	if p, ok := driver.(pinger); ok {
		deps[*o.driver] = p.Ping
	}
	health := apiserver.NewHealth(deps)
	return runAll(ctx, log, sched.Run, hooks, func(ctx context.Context) error {
		return serve(ctx, log, "scheduler health", *o.listen, withMetrics(health, reg), drain{health, 0})
	})
}

func (o *schedulerOptions) scheduler(st *store.Store, q queue.Queue, d scheduler.Driver, keys scheduler.ContentKeys, m scheduler.Metrics, log *slog.Logger) (*scheduler.Scheduler, error) {
	strategy, err := scheduler.ParseStrategy(*o.strategy)
	if err != nil {
		return nil, usagef("-strategy: %v", err)
	}
	return scheduler.New(scheduler.Config{
		Store: st, Queue: q, Driver: d, Keys: keys, Strategy: strategy, Logger: log, Metrics: m,
		HeartbeatTimeout: *o.heartbeat, MaxAttempts: *o.attempts, OutputFailureTimeout: *o.outputTimeout,
	})
}

// addOutputFailureTimeout is the scheduler's bound on failing outputs.
func addOutputFailureTimeout(fs *flagSet) *time.Duration {
	return fs.Duration("output-failure-timeout", "EZLIVE_OUTPUT_FAILURE_TIMEOUT", scheduler.DefaultOutputFailureTimeout,
		"fail a job whose transcoder's writes to the origin fail this long (0: never)")
}

func (o *schedulerOptions) openDriver(log *slog.Logger) (scheduler.Driver, func(), error) {
	switch *o.driver {
	case "local":
		return o.localDriver(log)
	case "nomad":
		return o.nomad.open(*o.bin, log)
	default:
		return nil, nil, usagef("-driver: %q is not local or nomad", *o.driver)
	}
}

func (o *schedulerOptions) localDriver(log *slog.Logger) (scheduler.Driver, func(), error) {
	low, high, err := portRange(*o.ingestPorts)
	if err != nil {
		return nil, nil, usagef("-ingest-ports: %v", err)
	}
	d, err := localdriver.New(localdriver.Config{
		Address: *o.ingestHost, CPU: *o.cpu, Command: *o.bin,
		RedisAddr: *o.common.redis, OriginURL: *o.originURL,
		PortMin: low, PortMax: high, Logger: log,
	})
	if err != nil {
		return nil, nil, err
	}
	return d, d.Close, nil
}

func portRange(s string) (int, int, error) {
	lo, hi, ok := strings.Cut(s, "-")
	low, err1 := strconv.Atoi(lo)
	high, err2 := strconv.Atoi(hi)
	if !ok || err1 != nil || err2 != nil || low < 1 || high > 65535 || low > high {
		return 0, 0, fmt.Errorf("%q is not a port range such as 20000-20999", s)
	}
	return low, high, nil
}

// serve runs an HTTP server until ctx ends, then drains and shuts it down
// gracefully.
func serve(ctx context.Context, log *slog.Logger, name, addr string, h http.Handler, d drain) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: listen on %s: %w", name, addr, err)
	}
	return serveOn(ctx, log, name, l, apiserver.NewHTTPServer(l.Addr().String(), h), d)
}

// shutdownTimeout bounds a graceful shutdown after the drain period.
const shutdownTimeout = 5 * time.Second

// serveOn runs srv on l until ctx ends, then drains (d) and shuts it down
// gracefully.
func serveOn(ctx context.Context, log *slog.Logger, name string, l net.Listener, srv *http.Server, d drain) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	log.Info(name+" listening", "addr", "http://"+l.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if err := d.start(log, name, errc); err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	return srv.Shutdown(sctx)
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
