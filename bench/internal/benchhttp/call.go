// Package benchhttp holds what the benchmarks' HTTP load generators share.
package benchhttp

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
)

// Call does one request and drains the body so the connection is reused;
// a status other than want is an error carrying the body.
func Call(hc *http.Client, req *http.Request, want int) (http.Header, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: status %d: %s", req.Method, req.URL.Path, resp.StatusCode, bytes.TrimSpace(body))
	}
	return resp.Header, nil
}
