// Package benchhttp holds what the benchmarks' HTTP load generators share.
package benchhttp

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
)

// Call does one request and drains the body so the connection is reused;
// a status other than want is an error carrying the body. A wanted body is
// discarded through io.Discard's pooled buffer rather than read into a new
// slice: a load generator that allocates each 190 KB list page would spend
// on its own garbage the CPU the servers it measures share with it.
func Call(hc *http.Client, req *http.Request, want int) (http.Header, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == want {
		_, err := io.Copy(io.Discard, resp.Body)
		return resp.Header, err
	}
	body, _ := io.ReadAll(resp.Body)
	return nil, fmt.Errorf("%s %s: status %d: %s", req.Method, req.URL.Path, resp.StatusCode, bytes.TrimSpace(body))
}
