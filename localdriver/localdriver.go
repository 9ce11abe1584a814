// Package localdriver runs transcoders as child processes of this machine:
// the embedded single-machine default, one node named "local". It behaves
// like the Nomad driver (restarts in place, reports failures) so the
// scheduler cannot tell them apart. It decides nothing about placement.
package localdriver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/ezlivestreaming/ezlive/scheduler"
	"github.com/ezlivestreaming/ezlive/transcoder"
)

var _ scheduler.Driver = (*Driver)(nil)

// Config of the local driver. Zero values take the defaults noted.
type Config struct {
	NodeID     string   // default "local"
	Address    string   // host publishers reach and transcoders listen on; default 127.0.0.1
	CPU        float64  // cores offered to transcoders; default runtime.NumCPU()
	Memory     int      // MiB; default 4096
	Command    string   // the ezlive binary; default this executable
	RedisAddr  string   // passed to transcoders
	OriginURL  string   // passed to transcoders
	ExtraArgs  []string // appended to the transcoder command line
	PortMin    int      // ingest port range; default 20000
	PortMax    int      // default 20999
	Restarts   int      // in-place restarts allowed within RestartWindow; default 3
	RestartWin time.Duration
	StopGrace  time.Duration // SIGTERM to SIGKILL; default 10s
	Logger     *slog.Logger
}

// Driver runs and supervises transcoder processes.
type Driver struct {
	cfg    Config
	log    *slog.Logger
	events chan scheduler.Event

	mu       sync.Mutex
	procs    map[string]*proc // by job id
	nextPort int
}

type proc struct {
	placement scheduler.Placement
	listen    string
	cancel    context.CancelFunc // stops supervising; the process is then terminated
	done      chan struct{}      // closed when supervision ended and the process is gone
	healthy   bool
}

// New returns a driver with cfg's defaults filled.
func New(cfg Config) (*Driver, error) {
	if cfg.NodeID == "" {
		cfg.NodeID = "local"
	}
	if cfg.Address == "" {
		cfg.Address = "127.0.0.1"
	}
	if cfg.CPU <= 0 {
		cfg.CPU = float64(runtime.NumCPU())
	}
	if cfg.Memory <= 0 {
		cfg.Memory = 4096
	}
	if cfg.Command == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("local driver: find the ezlive binary: %w", err)
		}
		cfg.Command = exe
	}
	if cfg.PortMin <= 0 {
		cfg.PortMin, cfg.PortMax = 20000, 20999
	}
	if cfg.PortMax < cfg.PortMin {
		return nil, fmt.Errorf("local driver: port range %d-%d is empty", cfg.PortMin, cfg.PortMax)
	}
	if cfg.Restarts <= 0 {
		cfg.Restarts = 3
	}
	if cfg.RestartWin <= 0 {
		cfg.RestartWin = time.Minute
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Driver{
		cfg: cfg, log: cfg.Logger.With("node_id", cfg.NodeID),
		events: make(chan scheduler.Event, 256), procs: map[string]*proc{}, nextPort: cfg.PortMin,
	}, nil
}

// Nodes returns the one local node.
func (d *Driver) Nodes(context.Context) ([]scheduler.Node, error) {
	host, _ := os.Hostname()
	return []scheduler.Node{{ID: d.cfg.NodeID, Name: host, Address: d.cfg.Address, CPU: d.cfg.CPU, Memory: d.cfg.Memory}}, nil
}

// Place starts the transcoder of a placement, replacing an older generation.
func (d *Driver) Place(ctx context.Context, p scheduler.Placement) error {
	if p.NodeID != d.cfg.NodeID {
		return &scheduler.PlaceError{JobID: p.JobID, NodeID: p.NodeID, Reason: "unknown node (the local driver has only " + d.cfg.NodeID + ")"}
	}
	d.mu.Lock()
	old := d.procs[p.JobID]
	d.mu.Unlock()
	if old != nil && old.placement.Generation == p.Generation {
		return nil
	}
	if old != nil {
		d.terminate(old)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	port, err := d.freePort()
	if err != nil {
		return &scheduler.PlaceError{JobID: p.JobID, NodeID: p.NodeID, Reason: err.Error()}
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	pr := &proc{placement: p, listen: net.JoinHostPort(d.cfg.Address, strconv.Itoa(port)), cancel: cancel, done: make(chan struct{})}
	d.procs[p.JobID] = pr
	go d.supervise(sctx, pr)
	return nil
}

// Stop terminates a job's transcoder and waits until it is gone.
func (d *Driver) Stop(_ context.Context, jobID string) error {
	d.mu.Lock()
	pr := d.procs[jobID]
	d.mu.Unlock()
	if pr != nil {
		d.terminate(pr)
	}
	return nil
}

// Forget has nothing to remove: a stopped local transcoder leaves nothing.
func (d *Driver) Forget(context.Context, string) error { return nil }

func (d *Driver) terminate(pr *proc) {
	pr.cancel()
	<-pr.done
	d.mu.Lock()
	if d.procs[pr.placement.JobID] == pr {
		delete(d.procs, pr.placement.JobID)
	}
	d.mu.Unlock()
}

// Placements lists the transcoders this driver supervises.
func (d *Driver) Placements(context.Context) ([]scheduler.Running, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]scheduler.Running, 0, len(d.procs))
	for id, pr := range d.procs {
		out = append(out, scheduler.Running{JobID: id, NodeID: d.cfg.NodeID, Generation: pr.placement.Generation, Healthy: pr.healthy})
	}
	return out, nil
}

// Watch forwards the driver's events until ctx ends.
func (d *Driver) Watch(ctx context.Context, out chan<- scheduler.Event) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-d.events:
			select {
			case out <- ev:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// Close stops every transcoder.
func (d *Driver) Close() {
	d.mu.Lock()
	procs := make([]*proc, 0, len(d.procs))
	for _, pr := range d.procs {
		procs = append(procs, pr)
	}
	d.mu.Unlock()
	var wg sync.WaitGroup
	for _, pr := range procs {
		wg.Go(func() { d.terminate(pr) })
	}
	wg.Wait()
}

func (d *Driver) emit(ev scheduler.Event) {
	ev.NodeID = d.cfg.NodeID
	select {
	case d.events <- ev:
	default:
		d.log.Warn("event dropped: nobody is watching", "job_id", ev.JobID, "kind", ev.Kind)
	}
}

// freePort finds a bindable port in the range not given to another job.
func (d *Driver) freePort() (int, error) {
	taken := map[string]bool{}
	for _, pr := range d.procs {
		taken[pr.listen] = true
	}
	span := d.cfg.PortMax - d.cfg.PortMin + 1
	for i := range span {
		port := d.cfg.PortMin + (d.nextPort-d.cfg.PortMin+i)%span
		addr := net.JoinHostPort(d.cfg.Address, strconv.Itoa(port))
		if taken[addr] {
			continue
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		l.Close()
		d.nextPort = port + 1
		return port, nil
	}
	return 0, fmt.Errorf("no free ingest port in %d-%d", d.cfg.PortMin, d.cfg.PortMax)
}

// supervise runs the transcoder, restarting it in place after a failure as
// Nomad's restart policy would, until ctx ends or the restarts run out.
func (d *Driver) supervise(ctx context.Context, pr *proc) {
	defer close(pr.done)
	p := pr.placement
	log := d.log.With("job_id", p.JobID, "generation", p.Generation)
	var failures []time.Time
	for {
		err := d.runOnce(ctx, pr, log)
		if ctx.Err() != nil {
			d.emit(scheduler.Event{Kind: scheduler.EventComplete, JobID: p.JobID, Generation: p.Generation})
			return
		}
		if code := exitCode(err); code == 0 || code == transcoder.ExitFenced {
			log.Info("transcoder exited", "status", code)
			d.emit(scheduler.Event{Kind: scheduler.EventComplete, JobID: p.JobID, Generation: p.Generation})
			d.forget(pr)
			return
		}
		failures = recent(append(failures, time.Now()), d.cfg.RestartWin)
		if len(failures) > d.cfg.Restarts {
			log.Error("transcoder keeps failing; giving up", "err", err)
			d.emit(scheduler.Event{Kind: scheduler.EventFailed, JobID: p.JobID, Generation: p.Generation,
				Reason: fmt.Sprintf("transcoder failed %d times within %s: %v", len(failures), d.cfg.RestartWin, err)})
			d.forget(pr)
			return
		}
		log.Warn("transcoder failed; restarting in place", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (d *Driver) forget(pr *proc) {
	d.mu.Lock()
	if d.procs[pr.placement.JobID] == pr {
		delete(d.procs, pr.placement.JobID)
	}
	d.mu.Unlock()
}

func (d *Driver) runOnce(ctx context.Context, pr *proc, log *slog.Logger) error {
	p := pr.placement
	args := append([]string{"transcoder",
		"-job", p.JobID, "-generation", strconv.FormatInt(p.Generation, 10),
		"-redis", d.cfg.RedisAddr, "-origin", d.cfg.OriginURL, "-listen", pr.listen,
	}, d.cfg.ExtraArgs...)
	cmd := exec.Command(d.cfg.Command, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	// The transcoder dies with this process, as Nomad's raw_exec tasks die
	// with their allocation: no orphan keeps an ingest port.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start transcoder: %w", err)
	}
	d.setHealthy(pr, true)
	d.emit(scheduler.Event{Kind: scheduler.EventRunning, JobID: p.JobID, Generation: p.Generation})
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		d.setHealthy(pr, false)
		return err
	case <-ctx.Done():
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		return err
	case <-time.After(d.cfg.StopGrace):
		log.Warn("transcoder ignored SIGTERM; killing it")
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		return <-exited
	}
}

func (d *Driver) setHealthy(pr *proc, ok bool) {
	d.mu.Lock()
	pr.healthy = ok
	d.mu.Unlock()
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

func recent(times []time.Time, window time.Duration) []time.Time {
	cutoff := time.Now().Add(-window)
	for len(times) > 0 && times[0].Before(cutoff) {
		times = times[1:]
	}
	return times
}
