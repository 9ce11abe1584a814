// Command latency measures end-to-end live latency in the browser (issue 8
// §3): a low-latency DASH job, a normal DASH job and a low-latency HLS
// (LL-HLS) job played by Shaka in Chromium, through
// web/test/latency.test.mjs. Without -url it starts its own system (a private redis-server and `ezlive dev` on free loopback
// ports) and stops it afterwards. It prints the figures; the node test
// asserts the targets. It owns no package state.
//
//	go run ./bench/latency [-ezlive bin/ezlive] [-url http://127.0.0.1:1080]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// figure is one job's latency, as the node test writes it.
type figure struct {
	Median, Min, Max float64
	Segment          float64
	Prft             float64 // median latency by the prft boxes' wall clock, low-latency DASH only
}

func main() {
	bin := flag.String("ezlive", "bin/ezlive", "ezlive binary to start the system with (`make build`)")
	url := flag.String("url", "", "API base URL of a running system (default: start one)")
	flag.Parse()
	if err := run(*bin, *url); err != nil {
		fmt.Fprintln(os.Stderr, "bench/latency:", err)
		os.Exit(1)
	}
}

func run(bin, url string) error {
	dir, err := os.MkdirTemp("", "ezlive-bench-latency-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if url == "" {
		stop, apiURL, err := startSystem(bin, dir)
		if err != nil {
			return err
		}
		defer stop()
		url = apiURL
	}
	out := filepath.Join(dir, "latency.json")
	cmd := exec.Command("node", "--test", "test/latency.test.mjs")
	cmd.Dir = "web"
	cmd.Env = append(os.Environ(), "EZLIVE_URL="+url, "EZLIVE_LATENCY_OUT="+out)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr // the test's own account, for a failure
	testErr := cmd.Run()
	b, err := os.ReadFile(out)
	if err != nil {
		return fmt.Errorf("no figures (node test: %v): %w", testErr, err)
	}
	var figures map[string]figure
	if err := json.Unmarshal(b, &figures); err != nil {
		return fmt.Errorf("read figures: %w", err)
	}
	fmt.Println("end-to-end live latency in Chromium (Shaka liveLatency, median of 12 samples a second apart, after 3 s of play):")
	for _, name := range []string{"low-latency DASH", "normal DASH", "low-latency HLS", "low-latency HLS (hls.js)"} {
		f, ok := figures[name]
		if !ok {
			continue
		}
		fmt.Printf("  %-26s %5.2f s  (min %.2f, max %.2f; %g s segments)", name, f.Median, f.Min, f.Max, f.Segment)
		if f.Prft > 0 {
			fmt.Printf("; %.2f s by producer reference time", f.Prft)
		}
		fmt.Println()
	}
	if testErr != nil {
		return fmt.Errorf("a latency target was missed: %w", testErr)
	}
	return nil
}

// startSystem starts redis-server and `ezlive dev` on free loopback ports
// and returns a function stopping both.
func startSystem(bin, dir string) (stop func(), apiURL string, err error) {
	ports, err := freePorts(4)
	if err != nil {
		return nil, "", err
	}
	redisAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	redis := exec.Command("redis-server", "--port", fmt.Sprint(ports[0]), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	redis.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := redis.Start(); err != nil {
		return nil, "", fmt.Errorf("start redis-server: %w", err)
	}
	log, err := os.Create(filepath.Join(dir, "dev.log"))
	if err != nil {
		return nil, "", err
	}
	apiAddr := fmt.Sprintf("127.0.0.1:%d", ports[1])
	dev := exec.Command(bin, "dev", "-redis", redisAddr, "-listen", apiAddr,
		"-origin-listen", fmt.Sprintf("127.0.0.1:%d", ports[2]), "-ingest-listen", fmt.Sprintf("127.0.0.1:%d", ports[3]),
		"-ingest-srt-listen", "", "-data", filepath.Join(dir, "data"), "-log-level", "warn")
	dev.Stdout, dev.Stderr = log, log
	dev.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := dev.Start(); err != nil {
		_ = redis.Process.Kill()
		_ = redis.Wait()
		return nil, "", fmt.Errorf("start %s dev: %w", bin, err)
	}
	stop = func() {
		_ = dev.Process.Signal(os.Interrupt)
		waitOrKill(dev, 20*time.Second)
		_ = redis.Process.Kill()
		_ = redis.Wait()
		log.Close()
	}
	apiURL = "http://" + apiAddr
	if err := untilUp(apiURL+"/jobs", 30*time.Second); err != nil {
		stop()
		return nil, "", fmt.Errorf("ezlive dev did not come up (log %s): %w", log.Name(), err)
	}
	return stop, apiURL, nil
}

func waitOrKill(cmd *exec.Cmd, grace time.Duration) {
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

func untilUp(url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// freePorts asks the kernel for n free loopback ports.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
