package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/store"
	"github.com/ezlivestreaming/ezlive/transcoder"
)

type transcoderOptions struct {
	common                 commonFlags
	job, originURL, listen *string
	ffmpeg                 *string
	generation             *int
	allowPrivateSlate      *bool
}

func transcoderFlags() (*flagSet, *transcoderOptions) {
	fs := newFlagSet("transcoder")
	return fs, &transcoderOptions{
		common:     addCommon(fs),
		job:        fs.String("job", "EZLIVE_JOB_ID", "", "id of the live job to transcode (required)"),
		generation: fs.Int("generation", "EZLIVE_GENERATION", 0, "placement generation this transcoder runs for (required)"),
		originURL:  fs.String("origin", "EZLIVE_ORIGIN_URL", defaultOriginURL, "origin base URL to upload to"),
		listen:     fs.String("listen", "EZLIVE_TRANSCODER_LISTEN", nomadIngestAddr(), "host:port of the RTMP listener (default from NOMAD_IP_ingest and NOMAD_PORT_ingest)"),
		ffmpeg:     fs.String("ffmpeg", "EZLIVE_FFMPEG", "ffmpeg", "ffmpeg binary"),
		allowPrivateSlate: fs.Bool("allow-private-slate", "EZLIVE_ALLOW_PRIVATE_SLATE", false,
			"fetch a job's Slate_url from loopback, private or link-local addresses too (one machine); off on a fleet"),
	}
}

// nomadIngestAddr is the ingest address Nomad gives the task, if any.
func nomadIngestAddr() string {
	ip, port := os.Getenv("NOMAD_IP_ingest"), os.Getenv("NOMAD_PORT_ingest")
	if ip == "" || port == "" {
		return ""
	}
	return net.JoinHostPort(ip, port)
}

// runTranscoder runs one job's transcoder. It exits with
// transcoder.ExitFenced when its placement is no longer current, so that
// neither the local driver nor Nomad's restart policy brings it back.
func runTranscoder(ctx context.Context, args []string) error {
	fs, o := transcoderFlags()
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := o.check(fs); err != nil {
		return err
	}
	b, err := openBackend(ctx, o.common, nil)
	if err != nil {
		return err
	}
	defer b.Close()
	log, st := b.log, b.store
	cfg, err := o.config(ctx, st, log)
	if errors.Is(err, store.ErrFenced) {
		log.Warn("placement is not current; not starting", "job_id", *o.job)
		return exitError(transcoder.ExitFenced)
	}
	if err != nil {
		return err
	}
	err = transcoder.Run(ctx, cfg)
	if errors.Is(err, transcoder.ErrFenced) {
		log.Warn("placement superseded; transcoder stopped", "job_id", *o.job)
		return exitError(transcoder.ExitFenced)
	}
	return err
}

func (o *transcoderOptions) check(fs *flagSet) error {
	bad := workerSettingsMissing(fs)
	if *o.job == "" {
		bad = append(bad, "-job is required")
	}
	if *o.generation <= 0 {
		bad = append(bad, "-generation must be a positive number")
	}
	if _, _, err := net.SplitHostPort(*o.listen); err != nil {
		bad = append(bad, fmt.Sprintf("-listen: %q is not host:port (or set NOMAD_IP_ingest and NOMAD_PORT_ingest)", *o.listen))
	}
	if len(bad) > 0 {
		return usagef("%s", strings.Join(bad, "; "))
	}
	return nil
}

// workerSettingsMissing names the settings a transcoder placed by Nomad
// must be given: their defaults point at the worker itself, where neither
// Redis nor the origin runs, and a transcoder started there would retry in
// vain instead of saying what is missing.
func workerSettingsMissing(fs *flagSet) []string {
	if os.Getenv("NOMAD_ALLOC_ID") == "" {
		return nil
	}
	var bad []string
	sentinels := fs.Lookup("redis-sentinels").Value.String() != "" // Redis without -redis
	for flag, where := range map[string]string{"redis": "-worker-redis", "origin": "-worker-origin"} {
		if !fs.isSet(flag) && !(flag == "redis" && sentinels) {
			bad = append(bad, fmt.Sprintf("-%s is not set: under Nomad, give the worker node %s in its environment (or the scheduler %s)",
				flag, fs.env[flag], where))
		}
	}
	sort.Strings(bad)
	return bad
}

// config reads the job and its upload token from Redis.
func (o *transcoderOptions) config(ctx context.Context, st *store.Store, log *slog.Logger) (transcoder.Config, error) {
	job, err := st.PlacedJob(ctx, *o.job, int64(*o.generation))
	if errors.Is(err, store.ErrFenced) {
		return transcoder.Config{}, err
	}
	if err != nil {
		return transcoder.Config{}, fmt.Errorf("read job %s: %w", *o.job, err)
	}
	token, err := st.UploadToken(ctx, job.Id)
	if err != nil {
		return transcoder.Config{}, err
	}
	return transcoder.Config{
		JobID: job.Id, Generation: job.Placement_generation, Spec: job.Spec, StreamKey: job.StreamKey,
		ListenAddr: *o.listen, OriginURL: strings.TrimSuffix(*o.originURL, "/") + "/live/" + job.Id + "/",
		UploadToken: token, FFmpegPath: *o.ffmpeg, Reporter: heartbeats{st}, Logger: log,
		AllowPrivateSlate: *o.allowPrivateSlate,
		FirstPeriod:       firstPeriod(job), InputLostSince: inputLostSince(job, time.Now()),
		OutputFailingSince: job.Output_failing_since, OutputError: job.Output_error,
	}, nil
}

// heartbeats reports a transcoder's heartbeats to the store.
type heartbeats struct{ st *store.Store }

func (h heartbeats) Report(ctx context.Context, hb transcoder.Heartbeat) (transcoder.Reply, error) {
	ack, err := h.st.RecordHeartbeat(ctx, store.HeartbeatReport{
		JobID: hb.JobID, Generation: hb.Generation, Streaming: hb.State == transcoder.StateStreaming,
		IngestAddr: hb.IngestAddr, Stats: hb.Stats, Time: hb.Time, InputLostSince: hb.InputLostSince,
		OutputFailingSince: hb.OutputFailingSince, OutputError: hb.OutputError,
	})
	switch {
	case errors.Is(err, store.ErrFenced):
		return transcoder.Reply{}, fmt.Errorf("%w", transcoder.ErrFenced)
	case err != nil:
		return transcoder.Reply{}, err
	}
	return transcoder.Reply{StreamKey: ack.StreamKey}, nil
}

// firstPeriod is where a transcoder's runs start numbering: after the last
// run its job's record knows, when a transcoder of this placement ran
// before (a restart in place), so segment names are never reused.
func firstPeriod(job *jobspec.LiveJob) int {
	if job.Stats == nil || job.Time_last_heartbeat.IsZero() {
		return 0
	}
	return job.Stats.Restarts + 1
}

// inputLostSince is the input loss a restarted transcoder takes over: the
// record's, or now when the job was streaming (the crash cut its
// publisher). Zero for a new placement's first transcoder.
func inputLostSince(job *jobspec.LiveJob, now time.Time) time.Time {
	switch {
	case !job.Input_lost_since.IsZero():
		return job.Input_lost_since
	case job.State == jobspec.StateStreaming:
		return now
	}
	return time.Time{}
}
