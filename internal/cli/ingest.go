package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/ezlivestreaming/ezlive/apiserver"
	"github.com/ezlivestreaming/ezlive/ingest"
)

const defaultIngestListen = "127.0.0.1:1935"

type ingestOptions struct {
	common                  commonFlags
	listen, srt, passphrase *string
	healthListen            *string
	idle, drain             *time.Duration
	rate                    *int
}

func ingestFlags() (*flagSet, *ingestOptions) {
	fs := newFlagSet("ingest")
	return fs, &ingestOptions{
		common: addCommon(fs),
		listen: fs.String("listen", "EZLIVE_INGEST_LISTEN", defaultIngestListen, "address the RTMP ingest gateway listens on"),
		idle:   fs.Duration("idle-timeout", "EZLIVE_INGEST_IDLE_TIMEOUT", 10*time.Second, "close a publisher that sends no media for this long"),
		rate:   addIngestRate(fs),
		srt:    fs.String("srt-listen", "EZLIVE_INGEST_SRT_LISTEN", "", "UDP address of the SRT listener, e.g. 0.0.0.0:9710 (empty: no SRT)"),
		passphrase: fs.String("srt-passphrase", "EZLIVE_INGEST_SRT_PASSPHRASE", "",
			"deprecated, to be removed: every job has its own SRT passphrase (Srt_passphrase); this one, 10-79 characters, is required only of publishers of jobs made before, which have none (empty: those publish unencrypted)"),
		healthListen: fs.String("health-listen", "EZLIVE_INGEST_HEALTH_LISTEN", "",
			"address of the gateway's HTTP /healthz and /readyz, for load balancers and Nomad (empty: none); keeps probes off the RTMP port"),
		drain: addDrain(fs, "EZLIVE_INGEST_DRAIN", defaultDrain),
	}
}

func addIngestRate(fs *flagSet) *int {
	return fs.Int("max-attempts-per-minute", "EZLIVE_INGEST_RATE", 30,
		"failed or refused publish attempts allowed per source address per minute (publishers that get through do not count)")
}

// runIngest runs the ingest gateway: one stable URL per stream key,
// rtmp://<host>/live/<stream key>, checked in Redis before any media reaches
// a transcoder.
func runIngest(ctx context.Context, args []string) error {
	fs, o := ingestFlags()
	if err := fs.parse(args); err != nil {
		return err
	}
	if n := len(*o.passphrase); n != 0 && (n < 10 || n > 79) {
		return usagef("-srt-passphrase: %d characters; SRT takes 10 to 79", n)
	}
	b, err := openBackend(ctx, o.common, nil)
	if err != nil {
		return err
	}
	defer b.Close()
	if *o.srt != "" && !ingest.SRTAvailable {
		return usagef("-srt-listen: this ezlive was built without SRT (make build uses -tags srt)")
	}
	if *o.passphrase != "" {
		b.log.Warn("-srt-passphrase is deprecated: every job has its own SRT passphrase; this one applies only to jobs made before, which have none")
	}
	gw, err := ingest.New(ingest.Config{
		Listen: *o.listen, Resolver: ingest.JobResolver{Jobs: b.store}, Locker: b.store.PublishLocks(),
		IdleTimeout: *o.idle, MaxAttemptsPerMinute: *o.rate, SRTPassphrase: *o.passphrase, Logger: b.log,
	})
	if err != nil {
		return err
	}
	if *o.healthListen == "" {
		return serveGateway(ctx, b.log, gw, *o.listen, *o.srt, drain{}) // nothing would see it drain
	}
	// Ready when Redis answers: every stream key is checked there.
	health := apiserver.NewHealth(map[string]func(context.Context) error{"redis": b.store.Ping})
	d := drain{health, *o.drain}
	return runAll(ctx, b.log,
		func(ctx context.Context) error { return serveGateway(ctx, b.log, gw, *o.listen, *o.srt, d) },
		func(ctx context.Context) error { return serve(ctx, b.log, "ingest health", *o.healthListen, health, d) },
	)
}

// serveGateway runs gw on the TCP address listen (RTMP) and, when srt is not
// empty, on the UDP address srt, until ctx ends (then it drains, d) or a
// listener fails.
func serveGateway(ctx context.Context, log *slog.Logger, gw *ingest.Gateway, listen, srt string, d drain) error {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("ingest: listen on %s: %w", listen, err)
	}
	errc := make(chan error, 2)
	go func() { errc <- gw.Serve(l) }()
	if srt != "" {
		go func() { errc <- gw.ServeSRT(srt) }()
	}
	select {
	case err := <-errc:
		gw.Close()
		return err
	case <-ctx.Done():
		err := d.start(log, "ingest", errc)
		gw.Close()
		return err
	}
}
