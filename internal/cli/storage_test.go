package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ezlivestreaming/ezlive/internal/fauxqstest"
	"github.com/ezlivestreaming/ezlive/internal/redistest"
	"github.com/ezlivestreaming/ezlive/internal/testenv"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/store"
)

// TestJobOutputsInItsBucket: a job with Output.S3_output.Bucket has its
// uploads stored in that bucket under outputs/<job id>/, served by the
// origin, and nothing of it is left in the bucket once the job is deleted;
// a job without one stays in the origin's own storage.
func TestJobOutputsInItsBucket(t *testing.T) { // not parallel: the credentials come from the environment
	const bucket = "customer-bucket"
	endpoint := fauxqstest.StartS3(t, bucket)
	t.Setenv("AWS_ACCESS_KEY_ID", fauxqstest.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", fauxqstest.SecretKey)
	redis := redistest.Start(t)
	st := store.New(redis.Client(t))
	inBucket := jobWithBucket(t, st, "bucketed", bucket)
	onDisk := jobWithBucket(t, st, "local", "")
	root := t.TempDir()

	ctx, cancel := context.WithCancel(context.Background())
	addr := testenv.FreeAddr(t)
	done := make(chan error, 1)
	go func() {
		done <- runOrigin(ctx, []string{"-redis", redis.Addr, "-root", root, "-listen", addr, "-log-level", "error",
			"-s3-endpoint", endpoint, "-s3-region", fauxqstest.Region})
	}()
	base := "http://" + addr + "/live/"
	testenv.WaitFor(t, 30*time.Second, "the origin to listen", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	for _, id := range []string{inBucket, onDisk} {
		upload(t, base+id+"/v0/seg_1.m4s", "token-"+id, "segment of "+id)
		if got := fetch(t, base+id+"/v0/seg_1.m4s"); got != "segment of "+id {
			t.Errorf("%s: served %q", id, got)
		}
	}
	client := s3.NewFromConfig(aws.Config{Region: fauxqstest.Region,
		Credentials: credentials.NewStaticCredentialsProvider(fauxqstest.AccessKey, fauxqstest.SecretKey, "")},
		func(o *s3.Options) { o.BaseEndpoint, o.UsePathStyle = aws.String(endpoint), true })
	if keys := bucketKeys(t, client, bucket); strings.Join(keys, ",") != "outputs/"+inBucket+"/v0/seg_1.m4s" {
		t.Errorf("bucket holds %v, want only the bucketed job's segment", keys)
	}
	if !exists(root, onDisk) {
		t.Error("the job without a bucket is not on disk")
	}

	for _, id := range []string{inBucket, onDisk} {
		if _, err := st.UpdateJob(ctx, id, func(j *jobspec.LiveJob) error {
			j.SetState(jobspec.StateDeleting, "delete requested by test", time.Now())
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Deletions are followed from the origin's start, so the sweep (at
	// start and every minute) or the follower may be first; either way
	// only the listing of the bucket tells.
	testenv.WaitFor(t, 90*time.Second, "the deleted job's objects to leave the bucket", func() bool {
		return len(bucketKeys(t, client, bucket)) == 0 && !exists(root, onDisk)
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("origin: %v", err)
	}
}

// jobWithBucket stores a stopped job whose outputs go to bucket ("": none)
// and whose upload token is "token-<id>".
func jobWithBucket(t *testing.T, st *store.Store, name, bucket string) string {
	t.Helper()
	j := &jobspec.LiveJob{Id: name + "-job", StreamKey: "key-" + name}
	if bucket != "" {
		j.Spec.Output.S3_output = []byte(fmt.Sprintf(`{"Bucket": %q}`, bucket))
	}
	j.SetState(jobspec.StateStopped, "stopped by test", time.Now())
	if err := st.CreateJob(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	if err := st.SetUploadToken(context.Background(), j.Id, "token-"+j.Id); err != nil {
		t.Fatal(err)
	}
	return j.Id
}

func upload(t *testing.T, url, token, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT %s: %d", url, resp.StatusCode)
	}
}

func fetch(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func bucketKeys(t *testing.T, c *s3.Client, bucket string) []string {
	t.Helper()
	out, err := c.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}
