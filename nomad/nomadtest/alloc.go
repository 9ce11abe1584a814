package nomadtest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/nomad/api"
)

// allocState is an allocation and the client-side state of its tasks.
type allocState struct {
	alloc *api.Allocation
	node  *api.Node
	stop  chan struct{} // closed to kill the tasks
	hard  bool          // kill at once (the server closes)
	procs map[string]*os.Process
	// unknownSince is when the servers marked it unknown: lost_after counts
	// from there (structs/alloc.go, Expired).
	unknownSince time.Time
	prev         *allocState // the allocation this one replaces, which it waits for
}

func (a *allocState) terminal() bool { return a.alloc.ClientTerminalStatus() }

// lostAfter is the group's disconnect.lost_after, 0 without a disconnect
// block (structs.go, GetDisconnectLostAfter; max_client_disconnect is
// ignored since Nomad 1.10).
func (a *allocState) lostAfter() time.Duration {
	if d := a.group().Disconnect; d != nil && d.LostAfter != nil {
		return *d.LostAfter
	}
	return 0
}

// expired reports whether an unknown allocation's lost_after has passed.
func (a *allocState) expired(now time.Time) bool {
	return a.alloc.ClientStatus == api.AllocClientStatusUnknown && !a.unknownSince.IsZero() &&
		!now.Before(a.unknownSince.Add(a.lostAfter()))
}

// running reports whether a task process is still alive (a lost allocation's
// processes may outlive it).
func (a *allocState) running() bool { return len(a.procs) > 0 }

func (a *allocState) group() *api.TaskGroup {
	for _, tg := range a.alloc.Job.TaskGroups {
		if *tg.Name == a.alloc.TaskGroup {
			return tg
		}
	}
	return &api.TaskGroup{}
}

func (a *allocState) stub() *api.AllocationListStub {
	st := a.alloc.Stub()
	st.AllocatedResources = a.alloc.AllocatedResources
	return st
}

// kill tells the tasks to stop; s.mu is held.
func (a *allocState) kill(hard bool) {
	a.hard = a.hard || hard
	select {
	case <-a.stop:
		if hard {
			for _, p := range a.procs {
				syscall.Kill(-p.Pid, syscall.SIGKILL)
			}
		}
	default:
		close(a.stop)
	}
}

// stopAlloc sets the desired status to stop and kills the tasks; s.mu is held.
func (s *Server) stopAlloc(a *allocState, why string) {
	if a == nil || a.alloc.DesiredStatus == api.AllocDesiredStatusStop {
		return
	}
	a.alloc.DesiredStatus = api.AllocDesiredStatusStop
	a.alloc.DesiredDescription = why
	s.allocChanged(a, "PlanResult")
	if s.reporting(a) {
		a.kill(false) // an agent that is away hears it when it is back
	}
}

// allocChanged records a change of a; s.mu is held.
func (s *Server) allocChanged(a *allocState, typ string) {
	a.alloc.ModifyIndex = s.bump()
	a.alloc.ModifyTime = time.Now().UnixNano()
	s.publish(allocEvent(typ, a.alloc))
	if js := s.jobs[a.alloc.JobID]; js != nil {
		s.setJobStatus(js)
	}
}

func (s *Server) getAllocation(w http.ResponseWriter, r *http.Request) {
	s.query(w, r, func() (any, error) {
		a := s.allocs[r.PathValue("id")]
		if a == nil {
			return nil, notFound("alloc")
		}
		return a.alloc, nil
	})
}

func (s *Server) listAllocations(w http.ResponseWriter, r *http.Request) {
	s.query(w, r, func() (any, error) {
		out := []*api.AllocationListStub{}
		for _, id := range sortedKeys(s.allocs) {
			if a := s.allocs[id]; hasPrefix(r, id) && s.jobs[a.alloc.JobID] != nil {
				out = append(out, a.stub())
			}
		}
		return out, nil
	})
}

// startTask starts the supervisor of one task; s.mu is held.
func (s *Server) startTask(a *allocState, t *api.Task) {
	env := s.taskEnv(a, t)
	argv, err := taskCommand(t, env, a.node)
	if s.closed {
		return
	}
	s.runners.Add(1)
	go func() {
		defer s.runners.Done()
		if !s.awaitPrevious(a) {
			return // stopped while it waited
		}
		if err == nil {
			err = s.makeDirs(a, t)
		}
		if err != nil {
			s.taskFinished(a, t, true, taskEvent(api.TaskDriverFailure, err.Error()))
			return
		}
		s.superviseTask(a, t, argv, env)
	}()
}

// awaitPrevious holds a replacement until the allocation it replaces is
// terminal or unknown, as the Nomad client's previous-allocation watcher
// does; false when the replacement is stopped meanwhile.
func (s *Server) awaitPrevious(a *allocState) bool {
	for {
		s.mu.Lock()
		prev := a.prev
		ready := prev == nil || prev.terminal() || prev.alloc.ClientStatus == api.AllocClientStatusUnknown
		s.mu.Unlock()
		if ready {
			return true
		}
		select {
		case <-a.stop:
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// makeDirs lays out the allocation directory as the Nomad client does.
func (s *Server) makeDirs(a *allocState, t *api.Task) error {
	allocDir := filepath.Join(s.cfg.Dir, a.alloc.ID)
	taskDir := filepath.Join(allocDir, t.Name)
	for _, d := range []string{filepath.Join(allocDir, "alloc", "logs"), filepath.Join(allocDir, "alloc", "data"),
		filepath.Join(taskDir, "local"), filepath.Join(taskDir, "secrets"), filepath.Join(taskDir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("alloc dir: %w", err)
		}
	}
	return nil
}

// superviseTask runs the task, restarting it in place after a failure as its
// restart policy allows; exit 0 completes it. Nothing is restarted or
// reported while the node's agent is away.
func (s *Server) superviseTask(a *allocState, t *api.Task, argv, env []string) {
	rp := t.RestartPolicy
	var restarts []time.Time
	for {
		if !s.awaitAgent(a) {
			return
		}
		err := s.runOnce(a, t, argv, env)
		if errors.Is(err, errKilled) {
			s.taskFinished(a, t, false, taskEvent(api.TaskKilled, "Task successfully killed"))
			return
		}
		if s.exitUnseen(a) {
			// The returning agent finds no task to reattach to
			// (task_runner.go, Restore) and, once it has heard the
			// servers, runs it again unless it is to stop.
			if !s.awaitAgent(a) {
				return
			}
			s.taskEventOnly(a, t, taskEvent(taskRestoreFailed, "failed to restore task; will not run until server is contacted"))
			if s.desiredStop(a) {
				s.taskFinished(a, t, false, taskEvent(api.TaskKilled, "Task successfully killed"))
				return
			}
			continue
		}
		if err == nil {
			s.taskFinished(a, t, false, taskEvent(api.TaskTerminated, "Exit Code: 0"))
			return
		}
		now := time.Now()
		for len(restarts) > 0 && now.Sub(restarts[0]) > *rp.Interval {
			restarts = restarts[1:]
		}
		if len(restarts) >= *rp.Attempts {
			msg := fmt.Sprintf("Exceeded allowed attempts %d in interval %v and mode is %q", *rp.Attempts, *rp.Interval, *rp.Mode)
			s.taskFinished(a, t, true, taskEvent(api.TaskNotRestarting, msg))
			return
		}
		restarts = append(restarts, now)
		s.taskRestarting(a, t, err)
		select {
		case <-time.After(*rp.Delay):
		case <-a.stop:
			s.taskFinished(a, t, false, taskEvent(api.TaskKilled, "Task successfully killed"))
			return
		}
	}
}

// exitUnseen reports whether the task exited while its agent was away.
func (s *Server) exitUnseen(a *allocState) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.reporting(a)
}

func (s *Server) desiredStop(a *allocState) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return a.alloc.DesiredStatus != api.AllocDesiredStatusRun
}

var errKilled = errors.New("killed")

// taskRestoreFailed is structs.TaskRestoreFailed, which nomad/api lacks.
const taskRestoreFailed = "Failed Restoring Task"

// runOnce starts the process and waits for it to exit or to be killed.
func (s *Server) runOnce(a *allocState, t *api.Task, argv, env []string) error {
	taskDir := filepath.Join(s.cfg.Dir, a.alloc.ID, t.Name)
	logs := filepath.Join(s.cfg.Dir, a.alloc.ID, "alloc", "logs")
	stdout, err := os.OpenFile(filepath.Join(logs, t.Name+".stdout.0"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer stdout.Close()
	stderr, err := os.OpenFile(filepath.Join(logs, t.Name+".stderr.0"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer stderr.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = env, taskDir, stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s.mu.Lock()
	select {
	case <-a.stop:
		s.mu.Unlock()
		return errKilled
	default:
	}
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		s.taskEventOnly(a, t, taskEvent(api.TaskDriverFailure, err.Error()))
		return err
	}
	a.procs[t.Name] = cmd.Process
	s.taskStartedLocked(a, t)
	s.mu.Unlock()

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err = <-exited:
	case <-a.stop:
		s.terminate(a, t, cmd.Process, exited)
		err = errKilled
	}
	s.mu.Lock()
	delete(a.procs, t.Name)
	s.mu.Unlock()
	return err
}

// terminate sends the kill signal, then SIGKILL to the process group after
// the kill timeout, as Nomad's executor does.
func (s *Server) terminate(a *allocState, t *api.Task, p *os.Process, exited <-chan error) {
	s.mu.Lock()
	hard := a.hard
	s.mu.Unlock()
	if !hard {
		p.Signal(killSignal(t.KillSignal))
		timeout := 5 * time.Second
		if t.KillTimeout != nil {
			timeout = *t.KillTimeout
		}
		select {
		case <-exited:
			syscall.Kill(-p.Pid, syscall.SIGKILL) // children left behind
			return
		case <-time.After(timeout):
		}
	}
	syscall.Kill(-p.Pid, syscall.SIGKILL)
	<-exited
}

func killSignal(name string) os.Signal {
	switch strings.ToUpper(name) {
	case "SIGTERM":
		return syscall.SIGTERM
	case "SIGKILL":
		return syscall.SIGKILL
	case "SIGQUIT":
		return syscall.SIGQUIT
	case "SIGHUP":
		return syscall.SIGHUP
	}
	return syscall.SIGINT // Nomad's default kill_signal
}

func taskEvent(typ, msg string) *api.TaskEvent {
	return &api.TaskEvent{Type: typ, Time: time.Now().UnixNano(), DisplayMessage: msg, Message: msg}
}

func (s *Server) taskStartedLocked(a *allocState, t *api.Task) {
	if !s.reporting(a) {
		return
	}
	ts := a.alloc.TaskStates[t.Name]
	ts.State = "running"
	ts.StartedAt = time.Now().UTC()
	ts.Events = append(ts.Events, taskEvent(api.TaskStarted, "Task started by client"))
	s.setClientStatus(a)
}

func (s *Server) taskEventOnly(a *allocState, t *api.Task, ev *api.TaskEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.reporting(a) {
		return
	}
	ts := a.alloc.TaskStates[t.Name]
	ts.Events = append(ts.Events, ev)
	s.setClientStatus(a)
}

func (s *Server) taskRestarting(a *allocState, t *api.Task, exit error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.reporting(a) {
		return
	}
	ts := a.alloc.TaskStates[t.Name]
	ts.State = "pending"
	ts.Restarts++
	ts.LastRestart = time.Now().UTC()
	ts.Events = append(ts.Events,
		taskEvent(api.TaskTerminated, exitMessage(exit)),
		taskEvent(api.TaskRestarting, "Task restarting in "+t.RestartPolicy.Delay.String()))
	s.setClientStatus(a)
}

func exitMessage(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Sprintf("Exit Code: 137, Signal: %d", ws.Signal())
		}
		return fmt.Sprintf("Exit Code: %d", ee.ExitCode())
	}
	return err.Error()
}

// taskFinished marks the task dead, failed or not, and lets blocked
// evaluations use the capacity it frees.
func (s *Server) taskFinished(a *allocState, t *api.Task, failed bool, ev *api.TaskEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.reporting(a) || s.closed {
		return
	}
	ts := a.alloc.TaskStates[t.Name]
	ts.State = "dead"
	ts.Failed = failed
	ts.FinishedAt = time.Now().UTC()
	ts.Events = append(ts.Events, ev)
	s.setClientStatus(a)
	if a.terminal() {
		s.unblock()
	}
}

// setClientStatus derives the allocation's status from its tasks as the
// Nomad client does: failed, else running, else pending, else complete.
func (s *Server) setClientStatus(a *allocState) {
	var pending, running, dead, failed bool
	for _, ts := range a.alloc.TaskStates {
		switch ts.State {
		case "pending":
			pending = true
		case "running":
			running = true
		case "dead":
			dead = true
			failed = failed || ts.Failed
		}
	}
	status, desc := api.AllocClientStatusPending, "No tasks have started"
	switch {
	case failed:
		status, desc = api.AllocClientStatusFailed, "Failed tasks"
	case running:
		status, desc = api.AllocClientStatusRunning, "Tasks are running"
	case pending:
	case dead:
		status, desc = api.AllocClientStatusComplete, "All tasks have completed"
	}
	a.alloc.ClientStatus, a.alloc.ClientDescription = status, desc
	s.allocChanged(a, "AllocationUpdated")
}

// taskEnv is the environment of a raw_exec task: the agent's own environment
// (this process's plus the node's NodeSpec.Env), then Nomad's runtime
// variables and the task's env block, which win; s.mu is held.
func (s *Server) taskEnv(a *allocState, t *api.Task) []string {
	allocDir := filepath.Join(s.cfg.Dir, a.alloc.ID)
	taskDir := filepath.Join(allocDir, t.Name)
	job, res := a.alloc.Job, a.alloc.AllocatedResources.Tasks[t.Name]
	vars := map[string]string{
		"NOMAD_ALLOC_ID":       a.alloc.ID,
		"NOMAD_SHORT_ALLOC_ID": a.alloc.ID[:8],
		"NOMAD_ALLOC_NAME":     a.alloc.Name,
		"NOMAD_ALLOC_INDEX":    allocIndex(a.alloc.Name),
		"NOMAD_JOB_ID":         *job.ID,
		"NOMAD_JOB_NAME":       *job.Name,
		"NOMAD_JOB_PARENT_ID":  *job.ParentID,
		"NOMAD_GROUP_NAME":     a.alloc.TaskGroup,
		"NOMAD_TASK_NAME":      t.Name,
		"NOMAD_NAMESPACE":      *job.Namespace,
		"NOMAD_REGION":         *job.Region,
		"NOMAD_DC":             a.node.Datacenter,
		"NOMAD_ALLOC_DIR":      filepath.Join(allocDir, "alloc"),
		"NOMAD_TASK_DIR":       filepath.Join(taskDir, "local"),
		"NOMAD_SECRETS_DIR":    filepath.Join(taskDir, "secrets"),
		"NOMAD_CPU_LIMIT":      strconv.FormatInt(res.Cpu.CpuShares, 10),
		"NOMAD_MEMORY_LIMIT":   strconv.FormatInt(res.Memory.MemoryMB, 10),
		"TMPDIR":               filepath.Join(taskDir, "tmp"),
	}
	for _, p := range a.alloc.AllocatedResources.Shared.Ports {
		port, addr := strconv.Itoa(p.Value), net.JoinHostPort(p.HostIP, strconv.Itoa(p.Value))
		vars["NOMAD_IP_"+p.Label], vars["NOMAD_PORT_"+p.Label], vars["NOMAD_ADDR_"+p.Label] = p.HostIP, port, addr
		vars["NOMAD_HOST_IP_"+p.Label], vars["NOMAD_HOST_PORT_"+p.Label], vars["NOMAD_HOST_ADDR_"+p.Label] = p.HostIP, port, addr
		vars["NOMAD_ALLOC_PORT_"+p.Label] = port
	}
	for _, meta := range []map[string]string{job.Meta, a.group().Meta, t.Meta} {
		for k, v := range meta {
			vars["NOMAD_META_"+k], vars["NOMAD_META_"+strings.ToUpper(k)] = v, v
		}
	}
	for k, v := range t.Env {
		vars[k] = interpolate(v, vars, a.node)
	}
	env := os.Environ()
	for k, v := range s.nodeEnv[a.node.ID] {
		env = append(env, k+"="+v)
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

func allocIndex(name string) string {
	i, j := strings.LastIndexByte(name, '['), strings.LastIndexByte(name, ']')
	if i < 0 || j < i {
		return "0"
	}
	return name[i+1 : j]
}

var varRef = regexp.MustCompile(`\$\{([^}]+)\}`)

// interpolate replaces ${NOMAD_*}, ${env.X}, ${node.*}, ${attr.*} and
// ${meta.*}; unknown references are left as they are, as Nomad does.
func interpolate(s string, vars map[string]string, n *api.Node) string {
	return varRef.ReplaceAllStringFunc(s, func(ref string) string {
		name := ref[2 : len(ref)-1]
		if v, ok := vars[name]; ok {
			return v
		}
		if v, ok := vars[strings.TrimPrefix(name, "env.")]; ok {
			return v
		}
		if v, ok := nodeVar(n, name); ok {
			return v
		}
		return ref
	})
}

// taskCommand reads the raw_exec/exec config: command and args.
func taskCommand(t *api.Task, env []string, n *api.Node) ([]string, error) {
	vars := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	if t.Driver != "raw_exec" && t.Driver != "exec" {
		return nil, fmt.Errorf("task driver %q is not supported by nomadtest", t.Driver)
	}
	cmd, _ := t.Config["command"].(string)
	if cmd == "" {
		return nil, fmt.Errorf("task %s: config.command is required", t.Name)
	}
	argv := []string{interpolate(cmd, vars, n)}
	args, _ := t.Config["args"].([]any)
	for _, arg := range args {
		argv = append(argv, interpolate(fmt.Sprint(arg), vars, n))
	}
	return argv, nil
}
