package apiserver_test

import (
	"net"
	"net/http"
	"testing"

	"github.com/ezlivestreaming/ezlive/apiserver"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/store"
)

// want429 checks a refusal by limit: 429, Retry-After, and a problem that
// names the limit.
func (a answer) want429(t *testing.T, limit string) {
	t.Helper()
	p := a.want(t, http.StatusTooManyRequests).problem(t)
	if a.header.Get("Retry-After") != "30" || p.Code != jobspec.ELIMIT || p.Limit != limit || p.Detail == "" {
		t.Fatalf("429: Retry-After %q, problem %+v; want Retry-After 30, code %s, limit %s",
			a.header.Get("Retry-After"), p, jobspec.ELIMIT, limit)
	}
}

func TestFullQueueRefusesNewAndResumedJobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *apiserver.Config) { c.MaxQueued = 2 })
	ctx := ctxT(t)
	stopped := e.putJob(jobspec.StateStopped)
	for _, id := range []string{"w1", "w2"} {
		if err := e.store.Enqueue(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	e.do("POST", "/jobs", sampleSpec(t)).want429(t, store.LimitQueue)
	e.do("PUT", "/jobs/"+stopped.Id+"/resume", nil).want429(t, store.LimitQueue)
	if n := e.rdb.HLen(ctx, store.KeyJobs).Val(); n != 1 {
		t.Fatalf("%d jobs stored, want only the stopped one", n)
	}
	if j, _ := e.store.Job(ctx, stopped.Id); j.State != jobspec.StateStopped {
		t.Fatalf("refused resume moved the job to %s", j.State)
	}
	if cmds := e.commands(); len(cmds) != 0 {
		t.Fatalf("commands sent for refused requests: %v", cmds)
	}
	e.store.Dequeue(ctx, "w1")
	e.do("POST", "/jobs", sampleSpec(t)).want(t, http.StatusCreated)
}

func TestClientQuota(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		token      string
		otherShare bool // another address counts in the same quota
	}{
		{"by remote address", "", false},
		{"by token", "secret", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(c *apiserver.Config) { c.ClientQuota, c.Token = 2, tt.token })
			post := func(from string) answer {
				return e.doFrom(from, "POST", "/jobs", sampleSpec(t), "Authorization: Bearer "+tt.token)
			}
			first := post("127.0.0.1").want(t, http.StatusCreated).job(t)
			post("127.0.0.1").want(t, http.StatusCreated)
			post("127.0.0.1").want429(t, store.LimitClientQuota)
			if n := e.rdb.HLen(ctxT(t), store.KeyJobs).Val(); n != 2 {
				t.Fatalf("%d jobs stored, want 2", n)
			}
			if a := post("127.0.0.2"); tt.otherShare {
				a.want429(t, store.LimitClientQuota)
			} else {
				a.want(t, http.StatusCreated)
			}
			if err := e.store.DeleteJob(ctxT(t), first.Id); err != nil { // as the scheduler does
				t.Fatal(err)
			}
			post("127.0.0.1").want(t, http.StatusCreated)
		})
	}
}

// doFrom is do from local address ip (127.0.0.0/8 is all this machine's).
func (e *env) doFrom(ip, method, path string, body []byte, headers ...string) answer {
	e.t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	defer c.CloseIdleConnections()
	return e.doWith(c, method, path, body, headers...)
}
