// Package testenv gives tests what they need of the machine they run on:
// free loopback ports, the kernel's view of listening sockets, and waiting
// for a condition. Only tests import it.
package testenv

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	return freeTCPAddr(t).Port
}

// FreeAddr returns "127.0.0.1:port" for a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return freeTCPAddr(t).String()
}

// FreeUDPAddr returns "127.0.0.1:port" for a UDP port (an SRT listener's)
// that was free a moment ago.
func FreeUDPAddr(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().String()
}

// given holds the ports this process has handed out. The kernel may offer a
// port again as soon as its probe listener closes, and two servers of one
// test given the same port fail to start ("address already in use").
var given struct {
	sync.Mutex
	ports map[int]bool
}

func freeTCPAddr(t testing.TB) *net.TCPAddr {
	t.Helper()
	given.Lock()
	defer given.Unlock()
	if given.ports == nil {
		given.ports = map[int]bool{}
	}
	for {
		addr := probeTCPAddr(t)
		if !given.ports[addr.Port] {
			given.ports[addr.Port] = true
			return addr
		}
	}
}

func probeTCPAddr(t testing.TB) *net.TCPAddr {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr)
}

// Listening reports whether a TCP socket listens on the IPv4 host:port addr,
// reading the kernel's table (/proc/net/tcp) rather than connecting: a
// probe connection would use up a server's single accept or be taken as a
// publisher.
func Listening(addr string) bool {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	ip := net.ParseIP(host).To4()
	if ip == nil {
		return false
	}
	want := fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], p)
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) > 3 && fs[1] == want && fs[3] == "0A" { // 0A: TCP_LISTEN
			return true
		}
	}
	return false
}

// WaitListening waits up to limit until something listens on addr (see
// Listening).
func WaitListening(t testing.TB, addr string, limit time.Duration) {
	t.Helper()
	WaitFor(t, limit, "a listener on "+addr, func() bool { return Listening(addr) })
}

// WaitFor polls cond until it holds, failing the test, naming what it
// waited for, after limit.
func WaitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// Buffer is a bytes.Buffer that goroutines may write while a test reads it:
// a log destination, or a process's output.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
