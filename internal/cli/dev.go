package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ezlivestreaming/ezlive/drm"
	"github.com/ezlivestreaming/ezlive/ingest"
	"github.com/ezlivestreaming/ezlive/metrics"
	"github.com/ezlivestreaming/ezlive/origin"
	"github.com/ezlivestreaming/ezlive/playback"
	"github.com/ezlivestreaming/ezlive/scheduler"
)

type devOptions struct {
	api          *apiOptions
	sched        *schedulerOptions
	originListen *string
	ingestListen *string
	ingestSRT    *string
	ingestRate   *int
	data         *string
	drm          drmFlags
	storage      storageFlags
	recRetention *time.Duration
}

// devFlags are the api's and the scheduler's flags together (one -redis, one
// -queue), plus where the embedded origin listens and keeps its files.
func devFlags() (*flagSet, *devOptions) {
	fs := newFlagSet("dev")
	common, q := addCommon(fs), addQueue(fs)
	o := &devOptions{
		api: &apiOptions{
			common: common, queue: q,
			listen:        fs.String("listen", "EZLIVE_API_LISTEN", defaultAPIListen, "address the API and the demo page listen on"),
			playback:      fs.String("playback-base-url", "EZLIVE_PLAYBACK_BASE_URL", "", "public base URL of the origin (default: http://<origin-listen>)"),
			tok:           fs.String("token", "EZLIVE_API_TOKEN", "", "bearer token the API requires (empty: none)"),
			insecure:      addInsecure(fs),
			shakaDir:      fs.String("shaka-dir", "EZLIVE_SHAKA_DIR", "web/node_modules/shaka-player/dist", "directory of the Shaka Player build for the demo page"),
			feeds:         fs.Bool("feeds", "EZLIVE_FEEDS", true, "let the demo page push test patterns (POST /jobs/:id/feed)"),
			feedSize:      addFeedSize(fs),
			ingestGateway: new(string), ingestGatewaySRT: new(string),
			drain:  addDrain(fs, "EZLIVE_API_DRAIN", 0),
			limits: addLimits(fs),
		},
		ingestSRT: fs.String("ingest-srt-listen", "EZLIVE_INGEST_SRT_LISTEN", "127.0.0.1:9710",
			"UDP address of the gateway's SRT listener (empty, or a build without SRT: none)"),
		ingestListen: fs.String("ingest-listen", "EZLIVE_INGEST_LISTEN", defaultIngestListen,
			"address of the RTMP ingest gateway, the stable ingest URL of every job (empty: publish to each transcoder)"),
		ingestRate:   addIngestRate(fs),
		originListen: fs.String("origin-listen", "EZLIVE_ORIGIN_LISTEN", defaultOriginAddr, "address the origin listens on"),
		data:         fs.String("data", "EZLIVE_DATA", ".run/data", "directory for the origin's files"),
		drm:          addDRM(fs),
		storage:      addStorage(fs),
		recRetention: addRecordingRetention(fs),
	}
	o.api.kek = o.drm.kek // one -drm-kek for the embedded origin and API
	o.sched = &schedulerOptions{
		common: common, queue: q,
		driver: fs.String("driver", "EZLIVE_DRIVER", "local",
			"where transcoders run: local (child processes) or nomad (the Nomad agent at NOMAD_ADDR, e.g. nomad agent -dev)"),
		nomad:       addNomad(fs, ""),
		bin:         fs.String("ezlive-bin", "EZLIVE_BIN", "", "ezlive binary the transcoders run (default: this executable)"),
		strategy:    fs.String("strategy", "EZLIVE_STRATEGY", "least-loaded", "placement strategy: least-loaded, round-robin or random"),
		heartbeat:   fs.Duration("heartbeat-timeout", "EZLIVE_HEARTBEAT_TIMEOUT", 10e9, "a transcoder silent this long is re-placed"),
		attempts:    fs.Int("max-attempts", "EZLIVE_MAX_ATTEMPTS", 5, "re-placements after failures before a job fails"),
		ingestHost:  fs.String("ingest-host", "EZLIVE_INGEST_HOST", "127.0.0.1", "address transcoders listen on and publishers reach"),
		ingestPorts: fs.String("ingest-ports", "EZLIVE_INGEST_PORTS", defaultIngestPorts, "ingest port range LOW-HIGH"),
		cpu:         fs.Float64("cpu", "EZLIVE_NODE_CPU", 0, "cores offered to transcoders (0: all)"),
		webhook:     addWebhook(fs),

		outputTimeout: addOutputFailureTimeout(fs),
	}
	return fs, o
}

// runDev runs origin, API (with the demo page) and a scheduler with the local
// driver in this one process: the embedded single-machine default.
func runDev(ctx context.Context, args []string) error {
	fs, o := devFlags()
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := o.api.check(); err != nil {
		return err
	}
	b, err := openBackend(ctx, o.api.common, &o.api.queue)
	if err != nil {
		return err
	}
	defer b.Close()
	log, st, rdb, q := b.log, b.store, b.rdb, b.queue
	if err := st.Ping(ctx); err != nil {
		return fmt.Errorf("redis at %s: %w", *o.api.common.redis, err)
	}
	originLn, err := net.Listen("tcp", *o.originListen)
	if err != nil {
		return fmt.Errorf("origin: listen on %s: %w", *o.originListen, err)
	}
	originURL := "http://" + originLn.Addr().String()
	if *o.api.playback == "" {
		*o.api.playback = originURL
	}
	o.sched.originURL = &originURL
	gateway, err := o.gateway(b)
	if err != nil {
		return err
	}
	enc, err := o.drm.encrypter(rdb, st, "http://"+*o.api.listen, log)
	if err != nil {
		return err
	}
	storage, jobStorage, err := o.storage.storage(ctx, st)
	if err != nil {
		return err
	}
	org, err := origin.New(origin.Config{Root: filepath.Join(*o.data, "origin"), Storage: storage, JobStorage: jobStorage,
		Authorizer: uploadAuthorizer{st}, Encrypter: enc, Logger: log,
		Viewers: playback.NewGuard(playback.RedisSigner(rdb), st), Recordings: st})
	if err != nil {
		return err
	}
	defer org.Close()
	sweeper, err := org.NewSweeper(origin.SweeperConfig{Retention: st, Recordings: st, RecordingMaxAge: *o.recRetention, Sizes: st})
	if err != nil {
		return err
	}
	reg := metrics.NewRegistry() // one /metrics, on the API listener, for every part
	originMetrics(reg, org)
	api, closeFeeds, err := o.api.server(b, reg)
	if err != nil {
		return err
	}
	defer closeFeeds()
	driver, closeDriver, err := o.driver(originURL, log)
	if err != nil {
		return err
	}
	defer closeDriver()
	sched, err := o.sched.scheduler(st, q, driver, drm.NewKeyService(rdb, nil), schedulerMetrics(reg, st, q), log)
	if err != nil {
		return err
	}
	hooks, err := o.sched.webhook.dispatcher(st, reg, log)
	if err != nil {
		return err
	}
	return runAll(ctx, log, gateway,
		func(ctx context.Context) error {
			return serveOn(ctx, log, "origin", originLn, org.HTTPServer(originLn.Addr().String()), drain{})
		},
		func(ctx context.Context) error {
			return serve(ctx, log, "api", *o.api.listen, api.Handler(), drain{api, *o.api.drain})
		},
		sweeper.Run,
		sched.Run, hooks,
	)
}

// driver is the local driver, or the Nomad driver on this machine's agent:
// its transcoders run this executable against this process's Redis and
// origin, so nothing else needs setting.
func (o *devOptions) driver(originURL string, log *slog.Logger) (scheduler.Driver, func(), error) {
	if *o.sched.driver != "nomad" {
		return o.sched.openDriver(log)
	}
	if *o.sched.bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, nil, fmt.Errorf("-ezlive-bin: %w", err)
		}
		*o.sched.bin = exe
	}
	for flag, v := range map[*string]string{o.sched.nomad.workerRedis: *o.api.common.redis, o.sched.nomad.workerOrigin: originURL} {
		if *flag == "" {
			*flag = v
		}
	}
	return o.sched.openDriver(log)
}

// runAll runs every part until ctx ends or one part fails, then stops all.
func runAll(ctx context.Context, log *slog.Logger, parts ...func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, len(parts))
	for _, part := range parts {
		wg.Go(func() {
			if err := part(ctx); err != nil {
				errc <- err
				cancel()
			}
		})
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		log.Error("stopped", "err", err)
		return err
	}
	return nil
}

// gateway makes the ingest gateway part of dev, and every job's ingest URL
// its stable rtmp://<ingest-listen>/live/<stream key>.
func (o *devOptions) gateway(b *backend) (func(context.Context) error, error) {
	if *o.ingestListen == "" {
		return func(ctx context.Context) error { <-ctx.Done(); return nil }, nil
	}
	*o.api.ingestGateway = "rtmp://" + *o.ingestListen + "/live"
	srt := *o.ingestSRT
	if srt != "" && !ingest.SRTAvailable {
		b.log.Warn("this ezlive was built without SRT (make build uses -tags srt): no SRT ingest")
		srt = ""
	}
	if srt != "" {
		*o.api.ingestGatewaySRT = "srt://" + srt
	}
	gw, err := ingest.New(ingest.Config{
		Listen: *o.ingestListen, Resolver: ingest.JobResolver{Jobs: b.store}, Locker: b.store.PublishLocks(),
		MaxAttemptsPerMinute: *o.ingestRate, Logger: b.log,
	})
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error { return serveGateway(ctx, b.log, gw, *o.ingestListen, srt, drain{}) }, nil
}
