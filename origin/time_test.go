package origin

import (
	"net/http"
	"testing"
	"time"
)

func TestTimeEndpoint(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	before := time.Now().Add(-time.Millisecond)
	resp, body := f.get(TimePath)
	after := time.Now()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", TimePath, resp.StatusCode)
	}
	got, err := time.Parse(time.RFC3339Nano, string(body))
	if err != nil {
		t.Fatalf("GET %s = %q, not ISO 8601: %v", TimePath, body, err)
	}
	if got.Location() != time.UTC || got.Before(before.Truncate(time.Millisecond)) || got.After(after) {
		t.Errorf("GET %s = %s, want UTC between %s and %s", TimePath, body, before.UTC(), after.UTC())
	}
	for h, want := range map[string]string{"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"} {
		if v := resp.Header.Get(h); v != want {
			t.Errorf("%s = %q, want %q", h, v, want)
		}
	}
	if resp := f.do(http.MethodOptions, TimePath, nil, "Origin", "http://player.example"); resp.StatusCode != http.StatusNoContent {
		t.Errorf("preflight: status %d", resp.StatusCode)
	}
	if resp := f.do(http.MethodPut, TimePath, nil, "Authorization", "Bearer T1"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("PUT %s: status %d, want 405", TimePath, resp.StatusCode)
	}
}
