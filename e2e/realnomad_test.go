package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/ezlivestreaming/ezlive/client"
	"github.com/ezlivestreaming/ezlive/internal/testenv"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/nomad"
	"github.com/ezlivestreaming/ezlive/scheduler"
)

// realNomad is a real Nomad cluster on this machine: one server and two
// raw_exec clients in node pool ezlive-workers, on 127.0.0.30–32, as an
// operator would run a small one. The binary comes from NOMAD_BIN: CI has no
// Nomad, and nothing of Nomad's is part of this repository.
type realNomad struct {
	t       testing.TB
	bin     string
	dir     string
	addr    string
	agents  map[string]*exec.Cmd // by agent name: server, client1, client2
	workers []string             // the clients' environment: what an env file gives them
	api     *api.Client
}

// startRealNomad starts the server; the clients start with startClients,
// once the settings they pass to transcoders are known.
func startRealNomad(t testing.TB) *realNomad {
	t.Helper()
	bin := os.Getenv("NOMAD_BIN")
	if bin == "" {
		t.Skip("needs a real Nomad agent: set NOMAD_BIN to its binary (see README, Nomad)")
	}
	// Not t.TempDir: the clients mount tmpfs secrets directories inside
	// their data dirs, which must be unmounted before removal.
	dir, err := os.MkdirTemp("", "ezlive-realnomad-")
	if err != nil {
		t.Fatal(err)
	}
	n := &realNomad{t: t, bin: bin, dir: dir, addr: "http://127.0.0.30:4646", agents: map[string]*exec.Cmd{}}
	if n.api, err = api.NewClient(&api.Config{Address: n.addr}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.close)
	n.startAgent("server", "127.0.0.30", `
server {
  enabled          = true
  bootstrap_expect = 1
  heartbeat_grace  = "2s"
}
client { enabled = false }
`)
	n.waitAPI()
	return n
}

func (n *realNomad) startClients(workerEnv ...string) {
	n.workers = workerEnv
	for i, name := range []string{"client1", "client2"} {
		n.startAgent(name, fmt.Sprintf("127.0.0.3%d", i+1), clientConfig(20000+i*5000))
	}
	n.waitReady(2)
}

// waitReady waits until want client nodes are ready.
func (n *realNomad) waitReady(want int) {
	n.t.Helper()
	n.waitFor(fmt.Sprintf("%d ready clients", want), func() bool {
		nodes, _, err := n.client().Nodes().List(nil)
		ready := 0
		for _, nd := range nodes {
			if nd.Status == api.NodeStatusReady {
				ready++
			}
		}
		return err == nil && ready == want
	})
}

// clientConfig is a raw_exec client; each gets its own dynamic port range,
// since both share the loopback interface.
func clientConfig(minPort int) string {
	return fmt.Sprintf(`
server { enabled = false }
client {
  enabled           = true
  servers           = ["127.0.0.30:4647"]
  node_pool         = "ezlive-workers"
  network_interface = "lo"
  min_dynamic_port  = %d
  max_dynamic_port  = %d
  options = {
    "fingerprint.denylist" = "env_aws,env_gce,env_azure,env_digitalocean"
  }
}
plugin "raw_exec" {
  config { enabled = true }
}
`, minPort, minPort+4999)
}

func (n *realNomad) startAgent(name, ip, body string) {
	n.t.Helper()
	dataDir := filepath.Join(n.dir, name)
	cfg := fmt.Sprintf(`disable_update_check = true
data_dir  = %q
bind_addr = %q
name      = %q
advertise {
  http = %q
  rpc  = %q
  serf = %q
}
%s`, dataDir, ip, name, ip, ip, ip, body)
	path := filepath.Join(n.dir, name+".hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		n.t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(n.dir, name+".log"))
	if err != nil {
		n.t.Fatal(err)
	}
	cmd := exec.Command(n.bin, "agent", "-config", path)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), n.workers...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	go cmd.Wait()
	n.agents[name] = cmd
}

// killAgent kills a client agent with SIGKILL, as a crash would; its
// raw_exec tasks survive it, as on a real node.
func (n *realNomad) killAgent(name string) {
	n.agents[name].Process.Signal(syscall.SIGKILL)
}

func (n *realNomad) restartAgent(name string) {
	i := map[string]int{"client1": 1, "client2": 2}[name]
	n.startAgent(name, fmt.Sprintf("127.0.0.3%d", i), clientConfig(20000+(i-1)*5000))
}

// nodeName is the agent that runs a node.
func (n *realNomad) nodeName(id string) string {
	node, _, err := n.client().Nodes().Info(id, nil)
	if err != nil {
		n.t.Fatal(err)
	}
	return node.Name
}

func (n *realNomad) client() *api.Client { return n.api }

func (n *realNomad) waitAPI() {
	n.waitFor("the Nomad server to elect itself", func() bool {
		leader, err := n.client().Status().Leader()
		return err == nil && leader != ""
	})
}

func (n *realNomad) waitFor(what string, cond func() bool) {
	n.t.Helper()
	testenv.WaitFor(n.t, 60*time.Second, "real Nomad: "+what, cond)
}

// close stops every agent and every task they left, then removes the
// cluster's files.
func (n *realNomad) close() {
	for _, cmd := range n.agents {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	// A killed agent leaves its plugins (logmon, executor) and tasks
	// behind, as on a real node: they run the same binary from this
	// test's directory, or name the cluster's directory.
	for _, pid := range append(processesWith(n.dir), n.leftPlugins()...) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	if n.t.Failed() {
		for name := range n.agents {
			out, _ := os.ReadFile(filepath.Join(n.dir, name+".log"))
			n.t.Logf("--- nomad %s log (last 2000 bytes) ---\n%s", name, tail(out, 2000))
		}
	}
	mounts, _ := os.ReadFile("/proc/mounts")
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], n.dir) {
			syscall.Unmount(f[1], syscall.MNT_DETACH)
		}
	}
	os.RemoveAll(n.dir)
}

// leftPlugins lists the processes of the Nomad binary started from this
// test's working directory: the plugins of the agents it ran.
func (n *realNomad) leftPlugins() []int {
	wd, _ := os.Getwd()
	var out []int
	for _, pid := range processesWith(n.bin) {
		cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		if err == nil && cwd == wd {
			out = append(out, pid)
		}
	}
	return out
}

// TestRealNomadFailoverStopAndDelete runs the platform against a real Nomad
// cluster, as an operator would from the README, and takes away the node of
// a streaming job twice: once its client agent alone crashes (kill -9; its
// raw_exec transcoder lives on, and only Nomad's node heartbeat notices),
// once the whole machine dies (the agent and the transcoder; our heartbeat
// notices first). Before the fix, the job stayed off the air for two minutes
// and a stop after it hung until the dead node came back.
func TestRealNomadFailoverStopAndDelete(t *testing.T) {
	n := startRealNomad(t)
	// The scheduler's defaults, as an operator runs it.
	schedArgs := []string{"-driver", "nomad", "-heartbeat-timeout", scheduler.DefaultHeartbeatTimeout.String()}
	s := startSystemWith(t, []string{"-queue", "redis"}, schedArgs, "NOMAD_ADDR="+n.addr)
	n.startClients("EZLIVE_REDIS_ADDR="+s.redis.Addr, "EZLIVE_ORIGIN_URL="+s.originURL)
	ctx := context.Background()

	job := createSample(t, s)
	s.waitState(job.Id, jobspec.StateRunning, 90*time.Second)
	s.publish(job.Id)
	s.waitState(job.Id, jobspec.StateStreaming, 60*time.Second)

	machine := n.failover(s, job.Id, true)
	t.Logf("real Nomad, node died with its transcoder: re-placed and listening after %.1f s, streaming again after %.1f s",
		machine.placed.Seconds(), machine.streaming.Seconds())
	n.restartAgent(machine.node)
	n.waitReady(2)
	time.Sleep(10 * time.Second) // the returning agent settles: a fresh client starts its first task slower
	agentOnly := n.failover(s, job.Id, false)
	t.Logf("real Nomad, client agent killed: re-placed and listening after %.1f s, streaming again after %.1f s (off the air %.1f s)",
		agentOnly.placed.Seconds(), agentOnly.streaming.Seconds(), agentOnly.offAir.Seconds())
	n.restartAgent(agentOnly.node)
	if j, _ := s.client.Get(ctx, job.Id); j.Placement_attempts != 2 {
		t.Errorf("attempts %d after two re-placements", j.Placement_attempts)
	}

	stopAsked := time.Now()
	if _, err := s.client.Stop(ctx, job.Id); err != nil {
		t.Fatal(err)
	}
	s.waitState(job.Id, jobspec.StateStopped, 30*time.Second)
	t.Logf("stop after the failover: stopped after %.1f s", time.Since(stopAsked).Seconds())
	nj, _, err := n.client().Jobs().Info(nomad.NomadJobID(job.Id), nil)
	if err != nil || !*nj.Stop {
		t.Errorf("nomad job status should keep the stopped job: %v", err)
	}

	if _, err := s.client.Delete(ctx, job.Id); err != nil {
		t.Fatal(err)
	}
	s.waitFor(30*time.Second, "the job to be deleted and purged from Nomad", func() (bool, string) {
		_, err := s.client.Get(ctx, job.Id)
		_, _, nerr := n.client().Jobs().Info(nomad.NomadJobID(job.Id), nil)
		return client.IsStatus(err, http.StatusNotFound) && nerr != nil, fmt.Sprintf("api: %v, nomad: %v", err, nerr)
	})

	// The agents came back: no transcoder of the job is left anywhere.
	s.waitFor(60*time.Second, "no transcoder left", func() (bool, string) {
		pids := transcoders(job.Id)
		return len(pids) == 0, fmt.Sprintf("transcoders %v", pids)
	})
}

// failover is what one loss of a streaming job's node cost.
type failover struct {
	node              string        // the agent that was killed
	placed, streaming time.Duration // from the kill
	offAir            time.Duration // from the last segment of the old placement to streaming again
}

// failover kills the client agent of the job's node (and, if machine, the
// job's transcoder with it) and measures the way back to streaming; it
// checks that the re-placement is honest.
func (n *realNomad) failover(s *system, jobID string, machine bool) failover {
	n.t.Helper()
	ctx := context.Background()
	first, err := s.client.Get(ctx, jobID)
	if err != nil {
		n.t.Fatal(err)
	}
	f := failover{node: n.nodeName(first.Assigned_worker_id)}
	killed := time.Now()
	n.killAgent(f.node)
	if machine {
		for _, pid := range transcoders(jobID) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	var moved *jobspec.LiveJob
	s.waitFor(90*time.Second, "a new placement listening on the other node", func() (bool, string) {
		j, err := s.client.Get(ctx, jobID)
		if err != nil {
			return false, err.Error()
		}
		moved = j
		return j.Placement_generation > first.Placement_generation && j.Listening(),
			fmt.Sprintf("%s gen %d (%s)", j.State, j.Placement_generation, j.State_reason)
	})
	f.placed = time.Since(killed)
	s.waitState(jobID, jobspec.StateStreaming, 60*time.Second)
	f.streaming = time.Since(killed)
	f.offAir = f.streaming
	if !machine {
		f.offAir = f.streaming - f.placed // the old transcoder streamed until it was fenced
	}
	if moved.Assigned_worker_id == first.Assigned_worker_id || moved.Placement_attempts != first.Placement_attempts+1 {
		n.t.Errorf("re-placement: node %s (was %s), attempts %d (were %d)", moved.Assigned_worker_id,
			first.Assigned_worker_id, moved.Placement_attempts, first.Placement_attempts)
	}
	for _, e := range moved.Events {
		if e.To == jobspec.StateCreated && e.From != "" {
			n.t.Errorf("the re-placement went back to created: %+v", e)
		}
	}
	return f
}
