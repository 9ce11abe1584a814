package cli

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/origin"
	"github.com/ezlivestreaming/ezlive/store"
)

// storageFlags choose where the origin keeps outputs: its own default, and
// the S3 client that jobs with Output.S3_output.Bucket use too.
type storageFlags struct {
	kind, bucket, prefix, endpoint, region *string
}

func addStorage(fs *flagSet) storageFlags {
	return storageFlags{
		kind:   fs.String("storage", "EZLIVE_ORIGIN_STORAGE", "fs", `where outputs are kept: "fs" (under -root) or "s3" (-s3-bucket; -root then only spools uploads in progress)`),
		bucket: fs.String("s3-bucket", "EZLIVE_S3_BUCKET", "", "bucket of -storage s3"),
		prefix: fs.String("s3-prefix", "EZLIVE_S3_PREFIX", jobspec.S3OutputPrefix, "key prefix of -storage s3: objects are <prefix>/<job id>/<path>"),
		endpoint: fs.String("s3-endpoint", "EZLIVE_S3_ENDPOINT", "",
			"S3 endpoint override (an S3-compatible server; requests are then path-style)"),
		region: fs.String("s3-region", "AWS_REGION", "", "S3 region (empty: the standard AWS configuration's)"),
	}
}

// storage returns the origin's default Storage (nil: the filesystem) and
// the JobStorage that keeps each job with Output.S3_output.Bucket in that
// bucket, under jobspec.S3OutputPrefix.
func (f storageFlags) storage(ctx context.Context, st *store.Store) (origin.Storage, origin.JobStorage, error) {
	jb := &jobBuckets{st: st, cfg: origin.S3ClientConfig{Region: *f.region, Endpoint: *f.endpoint}, byBucket: map[string]origin.Storage{}}
	switch *f.kind {
	case "fs":
		return nil, jb, nil
	case "s3":
		if *f.bucket == "" {
			return nil, nil, fmt.Errorf("-storage s3 needs -s3-bucket (EZLIVE_S3_BUCKET)")
		}
		client, err := jb.client(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("-storage s3: %w", err)
		}
		return origin.NewS3Storage(client, *f.bucket, *f.prefix), jb, nil
	}
	return nil, nil, fmt.Errorf(`-storage: want "fs" or "s3", got %q`, *f.kind)
}

// jobBuckets is the origin's JobStorage: a job's Output.S3_output.Bucket,
// read from its record. A job without one, or without a record, is kept
// in the default Storage.
type jobBuckets struct {
	st  *store.Store
	cfg origin.S3ClientConfig

	mu       sync.Mutex
	s3       *s3.Client // made at the first need: most origins never need one
	byBucket map[string]origin.Storage
}

func (j *jobBuckets) StorageOf(ctx context.Context, jobID string) (origin.Storage, string, error) {
	job, err := j.st.Job(ctx, jobID)
	switch {
	case jobspec.ErrorCode(err) == jobspec.ENOTFOUND:
		return nil, "", nil
	case err != nil:
		return nil, "", err
	}
	bucket := jobspec.S3Bucket(job.Spec.Output)
	if bucket == "" {
		return nil, "", nil
	}
	s, err := j.Reopen(ctx, bucket)
	return s, bucket, err
}

// Reopen returns the Storage of bucket; the key is the bucket's name.
func (j *jobBuckets) Reopen(ctx context.Context, bucket string) (origin.Storage, error) {
	client, err := j.client(ctx)
	if err != nil {
		return nil, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	s, ok := j.byBucket[bucket]
	if !ok {
		s = origin.NewS3Storage(client, bucket, jobspec.S3OutputPrefix)
		j.byBucket[bucket] = s
	}
	return s, nil
}

func (j *jobBuckets) client(ctx context.Context) (*s3.Client, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.s3 == nil {
		c, err := origin.NewS3Client(ctx, j.cfg)
		if err != nil {
			return nil, err
		}
		j.s3 = c
	}
	return j.s3, nil
}
