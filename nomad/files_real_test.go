package nomad_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestJobFilesValidateOnRealNomad runs `nomad job validate` on every job
// file against a real dev agent, and `nomad config validate` on the agent
// configurations: no error and no warning (the parse tests above cannot know
// what Nomad warns about, such as a service without shutdown_delay). It needs
// a Nomad binary: NOMAD_BIN=/path/to/nomad; NOMAD_TEST_ADDR picks the
// loopback address the agent binds (default 127.0.0.1).
func TestJobFilesValidateOnRealNomad(t *testing.T) {
	bin := os.Getenv("NOMAD_BIN")
	if bin == "" {
		t.Skip("needs a real Nomad agent binary: set NOMAD_BIN")
	}
	addr := startDevAgent(t, bin)
	nomad := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "NOMAD_ADDR=http://"+addr, "NOMAD_TOKEN=")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	pool := filepath.Join(t.TempDir(), "pool.hcl")
	os.WriteFile(pool, []byte(`node_pool "ezlive-workers" {}`+"\n"), 0o644)
	if out, err := nomad("node", "pool", "apply", pool); err != nil {
		t.Fatalf("create the workers' node pool: %v\n%s", err, out)
	}
	for _, j := range jobFiles {
		out, err := nomad("job", "validate", j.file)
		if err != nil || strings.Contains(out, "Warning") {
			t.Errorf("nomad job validate %s: %v\n%s", j.file, err, out)
		}
	}
	for _, cfg := range []string{"client.hcl", "server.hcl"} {
		if out, err := nomad("config", "validate", cfg); err != nil {
			t.Errorf("nomad config validate %s: %v\n%s", cfg, err, out)
		}
	}
}

// startDevAgent runs `nomad agent -dev` on free ports until the test ends
// and returns its HTTP address once it has a leader.
func startDevAgent(t *testing.T, bin string) string {
	t.Helper()
	host := os.Getenv("NOMAD_TEST_ADDR")
	if host == "" {
		host = "127.0.0.1"
	}
	ports := make([]int, 3)
	for i := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.hcl")
	// No cloud fingerprinting: without metadata servers it fails the client.
	os.WriteFile(cfg, fmt.Appendf(nil, `
bind_addr = %q
ports {
  http = %d
  rpc  = %d
  serf = %d
}
client {
  options = { "fingerprint.denylist" = "env_aws,env_gce,env_azure,env_digitalocean" }
}
`, host, ports[0], ports[1], ports[2]), 0o644)
	log, err := os.Create(filepath.Join(dir, "agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "agent", "-dev", "-config", cfg, "-data-dir", filepath.Join(dir, "data"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		log.Close()
	})
	addr := net.JoinHostPort(host, fmt.Sprint(ports[0]))
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v1/status/leader")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr
			}
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(log.Name())
			t.Fatalf("nomad agent -dev on %s has no leader after 60s:\n%s", addr, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
