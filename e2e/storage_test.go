package e2e_test

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/ezlivestreaming/ezlive/internal/fauxqstest"
	"github.com/ezlivestreaming/ezlive/jobspec"
)

// s3Origin is the environment that puts the origin's storage in bucket at
// the S3 of endpoint (fauxqs): startSystem passes it to every process, and
// only the origin reads it (its -storage, -s3-bucket, -s3-endpoint).
func s3Origin(endpoint, bucket string) []string {
	return []string{"EZLIVE_ORIGIN_STORAGE=s3", "EZLIVE_S3_BUCKET=" + bucket, "EZLIVE_S3_ENDPOINT=" + endpoint,
		"AWS_REGION=" + fauxqstest.Region, "AWS_ACCESS_KEY_ID=" + fauxqstest.AccessKey, "AWS_SECRET_ACCESS_KEY=" + fauxqstest.SecretKey}
}

// bucketURL is the URL of the bucket s3Origin put in env, "" when the
// origin stores in its folder.
func bucketURL(env []string) string {
	var endpoint, bucket string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "EZLIVE_S3_ENDPOINT="); ok {
			endpoint = v
		}
		if v, ok := strings.CutPrefix(kv, "EZLIVE_S3_BUCKET="); ok {
			bucket = v
		}
	}
	if endpoint == "" || bucket == "" {
		return ""
	}
	return endpoint + "/" + bucket
}

// storedFiles lists the files the origin stores directly in a job's folder
// (not its recordings/), by base name, those matching pattern
// (path.Match): from its folder on disk, or from the bucket.
func (s *system) storedFiles(id, pattern string) []string {
	s.t.Helper()
	var names []string
	if s.bucket == "" {
		entries, err := os.ReadDir(filepath.Join(s.originRoot, id))
		if err != nil && !os.IsNotExist(err) {
			s.t.Fatal(err)
		}
		for _, e := range entries {
			if !e.IsDir() {
				names = append(names, e.Name())
			}
		}
	} else {
		names = s.bucketFiles(jobspec.S3OutputPrefix + "/" + id + "/")
	}
	var out []string
	for _, n := range names {
		if ok, _ := path.Match(pattern, n); ok {
			out = append(out, n)
		}
	}
	return out
}

// bucketFiles lists the base names of the objects directly under prefix,
// every page of ListObjectsV2.
func (s *system) bucketFiles(prefix string) []string {
	s.t.Helper()
	var names []string
	for token := ""; ; {
		q := url.Values{"list-type": {"2"}, "prefix": {prefix}, "delimiter": {"/"}}
		if token != "" {
			q.Set("continuation-token", token)
		}
		page, err := listObjects(context.Background(), s.bucket+"?"+q.Encode())
		if err != nil {
			s.t.Fatalf("list %s in %s: %v", prefix, s.bucket, err)
		}
		for _, c := range page.Contents {
			names = append(names, strings.TrimPrefix(c.Key, prefix))
		}
		if !page.IsTruncated {
			return names
		}
		token = page.NextContinuationToken
	}
}

type listBucketResult struct {
	Contents              []struct{ Key string }
	IsTruncated           bool
	NextContinuationToken string
}

// listObjects reads one page of a ListObjectsV2 at u (fauxqs checks no
// signature).
func listObjects(ctx context.Context, u string) (*listBucketResult, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	var r listBucketResult
	return &r, xml.Unmarshal(body, &r)
}
