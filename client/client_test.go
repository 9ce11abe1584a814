package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ezlivestreaming/ezlive/jobspec"
)

func TestAPIErrorNamesEveryField(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"type":"urn:ezlive:problem:invalid","title":"Bad Request","status":400,
			"detail":"invalid live job spec","code":"invalid","errors":[
			{"field":"Output.Stream_type","message":"must be \"hls\" or \"dash\""},
			{"field":"Output.Video_outputs[0].Bitrate","message":"not a bitrate"}]}`))
	}))
	defer srv.Close()
	_, err := New(srv.URL, "").Create(context.Background(), []byte(`{}`), false)
	ae, ok := err.(*APIError)
	if !ok || ae.Status != 400 || ae.Code != jobspec.EINVALID || len(ae.Fields) != 2 {
		t.Fatalf("error %#v", err)
	}
	for _, want := range []string{"400", "invalid live job spec", "Output.Stream_type: must be", "Output.Video_outputs[0].Bitrate: not a bitrate"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not contain %q", err.Error(), want)
		}
	}
	if !IsStatus(err, http.StatusBadRequest) || IsStatus(err, http.StatusNotFound) {
		t.Error("IsStatus")
	}
}

func TestAPIErrorFromOtherAnswers(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer tok" {
			t.Errorf("Authorization %q", got)
		}
		http.Error(w, "bad gateway", http.StatusBadGateway)
	}))
	defer srv.Close()
	_, err := New(srv.URL+"/", "tok").Get(context.Background(), "x")
	if ae, ok := err.(*APIError); !ok || ae.Status != 502 || ae.Detail != "bad gateway" {
		t.Fatalf("error %#v", err)
	}
}

func TestNextCursor(t *testing.T) {
	t.Parallel()
	for link, want := range map[string]string{
		"":                                       "",
		`</jobs?cursor=abc&limit=3>; rel="next"`: "abc",
		`</jobs?cursor=a%2Bb&limit=3>; rel="next"`:                                            "a+b",
		`</jobs?cursor=old>; rel="prev", </jobs/active?cursor=new&state=running>; rel="next"`: "new",
		`</jobs?cursor=abc>; rel="self"`:                                                      "",
	} {
		if got := nextCursor(link); got != want {
			t.Errorf("nextCursor(%q) = %q, want %q", link, got, want)
		}
	}
}
