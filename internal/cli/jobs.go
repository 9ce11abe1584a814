package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/ezlivestreaming/ezlive/client"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/testfeed"
)

type clientOptions struct {
	api, token *string
	asJSON     *bool
}

func addClient(fs *flagSet) clientOptions {
	return clientOptions{
		api:    fs.String("api", "EZLIVE_API_URL", "http://"+defaultAPIListen, "API base URL"),
		token:  fs.String("token", "EZLIVE_API_TOKEN", "", "API bearer token"),
		asJSON: fs.Bool("json", "", false, "print JSON instead of a table"),
	}
}

// runJobs is the client: ezlive jobs create -f FILE | list | get ID | stop ID | resume ID | delete [-keep-recordings] ID.
func runJobs(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("jobs needs an action: create -f FILE, list, get ID, stop ID, resume ID, delete ID or rotate-key ID")
	}
	action, args := args[0], args[1:]
	fs := newFlagSet("jobs " + action)
	co := addClient(fs)
	file := fs.String("f", "", "", "create: the job spec file (- for standard input)")
	dryRun := fs.Bool("dry-run", "", false, "create: validate only, store nothing")
	state := fs.String("state", "", "", "list: only jobs in these states (comma-separated)")
	limit := fs.Int("limit", "", 100, "list: jobs per page")
	keep := fs.Bool("keep-recordings", "", false, "delete: keep the job's recordings, which outlive it (GET /jobs/ID/recordings)")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *keep && action != "delete" {
		return usagef("-keep-recordings is for jobs delete only")
	}
	c := client.New(*co.api, *co.token)
	out := os.Stdout
	switch action {
	case "create":
		return createJob(ctx, c, co, *file, *dryRun, out)
	case "list":
		return listJobs(ctx, c, co, *state, *limit, out)
	case "get", "stop", "resume", "delete", "rotate-key":
		if fs.NArg() != 1 {
			return usagef("jobs %s needs exactly one job id", action)
		}
		if *keep {
			return deleteKeepingRecordings(ctx, c, co, fs.Arg(0), out)
		}
		return jobAction(ctx, c, co, action, fs.Arg(0), out)
	default:
		return usagef("unknown jobs action %q (want create, list, get, stop, resume, delete or rotate-key)", action)
	}
}

func createJob(ctx context.Context, c *client.Client, co clientOptions, file string, dryRun bool, out io.Writer) error {
	if file == "" {
		return usagef("-f is required: the job spec file, or - for standard input")
	}
	var body []byte
	var err error
	if file == "-" {
		body, err = io.ReadAll(os.Stdin)
	} else {
		body, err = os.ReadFile(file)
	}
	if err != nil {
		return usagef("-f: %v", err)
	}
	job, err := c.Create(ctx, body, dryRun)
	if err != nil {
		return err
	}
	return printJobs(out, co, job)
}

func listJobs(ctx context.Context, c *client.Client, co clientOptions, state string, limit int, out io.Writer) error {
	var states []jobspec.State
	for _, s := range splitList(state) {
		states = append(states, jobspec.State(s))
	}
	var all []*jobspec.LiveJob
	cursor := ""
	for {
		jobs, next, err := c.List(ctx, states, limit, cursor)
		if err != nil {
			return err
		}
		all = append(all, jobs...)
		if next == "" {
			return printJobs(out, co, all...)
		}
		cursor = next
	}
}

func jobAction(ctx context.Context, c *client.Client, co clientOptions, action, id string, out io.Writer) error {
	var job *jobspec.LiveJob
	var err error
	switch action {
	case "get":
		job, err = c.Get(ctx, id)
	case "stop":
		job, err = c.Stop(ctx, id)
	case "resume":
		job, err = c.Resume(ctx, id)
	case "delete":
		job, err = c.Delete(ctx, id)
	case "rotate-key":
		job, err = c.RotateStreamKey(ctx, id)
	}
	if err != nil {
		return err
	}
	if job == nil {
		fmt.Fprintf(out, "%s: %s accepted\n", id, action)
		return nil
	}
	return printJobs(out, co, job)
}

// deleteKeepingRecordings deletes a job but its recordings and prints the
// job and, a line each, the recordings kept with their playback URLs.
func deleteKeepingRecordings(ctx context.Context, c *client.Client, co clientOptions, id string, out io.Writer) error {
	job, kept, err := c.DeleteKeepingRecordings(ctx, id)
	if err != nil {
		return err
	}
	if *co.asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			*jobspec.LiveJob
			Kept_recordings []client.Recording
		}{job, kept})
	}
	if err := printJobs(out, co, job); err != nil {
		return err
	}
	for _, r := range kept {
		fmt.Fprintf(out, "kept recording %s (%.0f s): %s\n", r.Run, r.Duration, strings.Join(r.Playback_urls, " "))
	}
	return nil
}

func printJobs(out io.Writer, co clientOptions, jobs ...*jobspec.LiveJob) error {
	if *co.asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if len(jobs) == 1 {
			return enc.Encode(jobs[0])
		}
		if jobs == nil {
			jobs = []*jobspec.LiveJob{}
		}
		return enc.Encode(jobs)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tNODE\tINGEST\tPLAYBACK\tFPS\tKBPS")
	for _, j := range jobs {
		fps, kbps := "-", "-"
		if j.Stats != nil {
			fps, kbps = fmt.Sprintf("%.1f", j.Stats.Fps), fmt.Sprintf("%.0f", j.Stats.Bitrate_kbps)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.Id, stateText(j), dash(j.Assigned_worker_id), dash(j.RtmpIngestUrl), j.Playback_url, fps, kbps)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, j := range jobs {
		for _, w := range j.Job_validation_warnings {
			fmt.Fprintf(out, "warning: %s: %s\n", j.Id, w)
		}
	}
	return nil
}

func stateText(j *jobspec.LiveJob) string {
	if j.State_reason == "" || j.State == jobspec.StateStreaming || j.State == jobspec.StateRunning {
		return string(j.State)
	}
	return string(j.State) + " (" + j.State_reason + ")"
}

func dash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

// runPush sends a test pattern into a job's ingest until interrupted.
func runPush(ctx context.Context, args []string) error {
	fs := newFlagSet("push")
	co := addClient(fs)
	ffmpeg := fs.String("ffmpeg", "EZLIVE_FFMPEG", "ffmpeg", "ffmpeg binary")
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("push needs exactly one job id")
	}
	job, err := client.New(*co.api, *co.token).Get(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	if !job.Listening() {
		return fmt.Errorf("job %s is not listening for input yet (state %s): wait until it is running", job.Id, job.State)
	}
	feeds := testfeed.New(*ffmpeg, testfeed.Size{}, nil)
	defer feeds.Close()
	if err := feeds.Start(ctx, job); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "pushing a test pattern to %s; Ctrl-C stops\n", job.RtmpIngestUrl)
	<-ctx.Done()
	return nil
}
