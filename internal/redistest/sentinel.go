package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ezlivestreaming/ezlive/internal/testenv"
)

// Failover is a primary, its replica and three sentinels watching them
// under one master name, all owned by one test: Redis as a failover
// deployment runs it.
type Failover struct {
	Master    string
	Primary   *Server
	Replica   *Server
	Sentinels []*Server
}

// StartFailover runs the five servers on 127.0.0.1 and waits until the
// replica is in sync and every sentinel knows it and the two others, so
// that killing the primary (Primary.Stop) makes them promote the replica.
// The timeouts are short: a sentinel deems the primary down after a second
// (down-after-milliseconds), a failover gives up after five.
func StartFailover(t testing.TB, master string) *Failover {
	t.Helper()
	noDisk := []string{"--save", "", "--appendonly", "no"}
	f := &Failover{Master: master, Primary: start(t, noDisk...)}
	host, port, _ := net.SplitHostPort(f.Primary.Addr)
	f.Replica = start(t, append(noDisk, "--replicaof", host, port)...)
	for i := 0; i < 3; i++ {
		conf := filepath.Join(t.TempDir(), "sentinel.conf")
		lines := fmt.Sprintf("sentinel monitor %[1]s %[2]s %[3]s 2\n"+
			"sentinel down-after-milliseconds %[1]s 1000\n"+
			"sentinel failover-timeout %[1]s 5000\n", master, host, port)
		if err := os.WriteFile(conf, []byte(lines), 0o600); err != nil {
			t.Fatal(err)
		}
		f.Sentinels = append(f.Sentinels, startWith(t, []string{conf, "--sentinel"}))
	}
	replica := f.Replica.Client(t)
	testenv.WaitFor(t, 30*time.Second, "the replica in sync, the sentinels to know it and each other", func() bool {
		info, _ := replica.Info(context.Background(), "replication").Result()
		if !strings.Contains(info, "master_link_status:up") {
			return false
		}
		for _, s := range f.Sentinels {
			m := f.sentinelView(s)
			if m["num-slaves"] != "1" || m["num-other-sentinels"] != "2" {
				return false
			}
		}
		return true
	})
	return f
}

// SentinelAddrs are the sentinels' host:port.
func (f *Failover) SentinelAddrs() []string {
	var out []string
	for _, s := range f.Sentinels {
		out = append(out, s.Addr)
	}
	return out
}

// MasterAddr is where the first sentinel says the primary is now.
func (f *Failover) MasterAddr() string {
	m := f.sentinelView(f.Sentinels[0])
	return net.JoinHostPort(m["ip"], m["port"])
}

// sentinelView is SENTINEL MASTER as a map (empty when it does not answer).
func (f *Failover) sentinelView(s *Server) map[string]string {
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr})
	defer sc.Close()
	m, _ := sc.Master(context.Background(), f.Master).Result()
	return m
}
