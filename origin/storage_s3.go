package origin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/ezlivestreaming/ezlive/internal/awsconfig"
)

// S3ClientConfig configures the S3 client every bucket Storage shares.
type S3ClientConfig struct {
	// Region; empty takes AWS_REGION or the shared config.
	Region string
	// Endpoint overrides the AWS endpoint (an S3-compatible server, e.g.
	// fauxqs in tests); requests are then path-style.
	Endpoint string
	// Credentials; nil takes the standard chain (AWS_* environment, shared
	// profile, instance role).
	Credentials aws.CredentialsProvider
}

// NewS3Client returns an S3 client from the standard AWS configuration.
func NewS3Client(ctx context.Context, cfg S3ClientConfig) (*s3.Client, error) {
	awsCfg, err := awsconfig.Load(ctx, "s3", cfg.Region, cfg.Credentials)
	if err != nil {
		return nil, err
	}
	return s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		// A GET that has no checksum to validate (a ranged one, or a server
		// that sends none) is normal here, not worth a log line each.
		o.DisableLogOutputChecksumValidationSkipped = true
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
			o.UsePathStyle = true
		}
	}), nil
}

// s3PutTimeout bounds the upload of one complete file to the bucket; it is
// not tied to the PUT that brought it, whose client may leave once the
// body has arrived.
const s3PutTimeout = 60 * time.Second

// maxCachedManifest keeps larger files (a long DVR window's playlist) out
// of the manifest cache.
const maxCachedManifest = 1 << 20

// s3Storage keeps files as objects <prefix><name> of one bucket. The
// manifests and thumbnails it stored last are also kept in memory: they are
// rewritten every segment (every part in LL-HLS) and read by every player
// and every blocking reload, so reading them back from the bucket would add
// a round trip to the live edge. The origin is the bucket's one writer.
type s3Storage struct {
	client *s3.Client
	bucket string
	prefix string // "" or ending in "/"

	mu     sync.Mutex
	recent map[string]*cachedFile // name → its last version stored here
}

type cachedFile struct {
	data    []byte
	modTime time.Time
	etag    string
}

// NewS3Storage returns the Storage of bucket, its objects named
// <prefix>/<job id>/<path> (no prefix when prefix is empty).
func NewS3Storage(client *s3.Client, bucket, prefix string) Storage {
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &s3Storage{client: client, bucket: bucket, prefix: prefix, recent: map[string]*cachedFile{}}
}

func (s *s3Storage) key(name string) string { return s.prefix + name }

func (s *s3Storage) Put(ctx context.Context, spool *os.Root, tmp, name string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s3PutTimeout)
	defer cancel()
	f, err := spool.Open(tmp)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	var body io.ReadSeeker = f
	var data []byte
	if classify(name).rewritten && fi.Size() <= maxCachedManifest {
		if data, err = io.ReadAll(f); err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	out, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(s.key(name)), Body: body,
		ContentLength: aws.Int64(fi.Size()), ContentType: aws.String(classify(name).contentType),
		CacheControl: aws.String(classify(name).cacheControl),
	})
	if err != nil {
		return fmt.Errorf("s3 put %s: %w", s.key(name), err)
	}
	s.remember(name, data, aws.ToString(out.ETag))
	_ = spool.Remove(tmp)
	return nil
}

// remember keeps data as name's latest version, or forgets name (nil).
func (s *s3Storage) remember(name string, data []byte, etag string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if data == nil {
		delete(s.recent, name)
		return
	}
	s.recent[name] = &cachedFile{data: data, modTime: time.Now(), etag: etag}
}

func (s *s3Storage) Open(ctx context.Context, name string) (*Object, error) {
	s.mu.Lock()
	c := s.recent[name]
	s.mu.Unlock()
	if c != nil {
		return &Object{Content: bytes.NewReader(c.data), Size: int64(len(c.data)), ModTime: c.modTime, ETag: c.etag}, nil
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key(name))})
	if err != nil {
		return nil, s.notFound(name, err)
	}
	r := &s3Reader{s: s, ctx: ctx, key: s.key(name), size: aws.ToInt64(out.ContentLength), body: out.Body}
	return &Object{Content: r, Size: r.size, ModTime: aws.ToTime(out.LastModified), ETag: aws.ToString(out.ETag), close: r.Close}, nil
}

// notFound maps the bucket's "no such key" to fs.ErrNotExist.
func (s *s3Storage) notFound(name string, err error) error {
	var status interface{ HTTPStatusCode() int }
	var noKey *types.NoSuchKey
	if errors.As(err, &noKey) || errors.As(err, &status) && status.HTTPStatusCode() == 404 {
		return fmt.Errorf("s3 %s: %w", s.key(name), fs.ErrNotExist)
	}
	return fmt.Errorf("s3 get %s: %w", s.key(name), err)
}

func (s *s3Storage) Delete(ctx context.Context, name string) error {
	s.remember(name, nil, "")
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key(name))})
	if err != nil {
		return fmt.Errorf("s3 delete %s: %w", s.key(name), err)
	}
	return nil
}

func (s *s3Storage) DeletePrefix(ctx context.Context, prefix string) error {
	s.mu.Lock()
	for name := range s.recent {
		if strings.HasPrefix(name, prefix) {
			delete(s.recent, name)
		}
	}
	s.mu.Unlock()
	return s.list(ctx, prefix, func(page []types.Object) error {
		if len(page) == 0 {
			return nil
		}
		ids := make([]types.ObjectIdentifier, len(page))
		for i, o := range page {
			ids[i] = types.ObjectIdentifier{Key: o.Key}
		}
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(s.bucket),
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err == nil && len(out.Errors) > 0 {
			err = fmt.Errorf("%s: %s", aws.ToString(out.Errors[0].Key), aws.ToString(out.Errors[0].Message))
		}
		if err != nil {
			return fmt.Errorf("s3 delete under %s: %w", s.key(prefix), err)
		}
		return nil
	})
}

func (s *s3Storage) Folders(ctx context.Context) ([]Folder, error) {
	newest := map[string]time.Time{}
	err := s.list(ctx, "", func(page []types.Object) error {
		for _, o := range page {
			id := jobOf(strings.TrimPrefix(aws.ToString(o.Key), s.prefix))
			if t := aws.ToTime(o.LastModified); t.After(newest[id]) {
				newest[id] = t
			}
		}
		return nil
	})
	out := make([]Folder, 0, len(newest))
	for id, t := range newest {
		out = append(out, Folder{Name: id, ModTime: t})
	}
	return out, err
}

func (s *s3Storage) List(ctx context.Context, prefix string) ([]StoredFile, error) {
	var out []StoredFile
	err := s.list(ctx, prefix, func(page []types.Object) error {
		for _, o := range page {
			out = append(out, StoredFile{Name: strings.TrimPrefix(aws.ToString(o.Key), s.prefix),
				Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)})
		}
		return nil
	})
	return out, err
}

// list calls each with every page of the objects under prefix.
func (s *s3Storage) list(ctx context.Context, prefix string, each func([]types.Object) error) error {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(s.key(prefix))})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("s3 list %s: %w", s.key(prefix), err)
		}
		if err := each(page.Contents); err != nil {
			return err
		}
	}
	return nil
}

// s3Reader reads an object from the position Seek set: the body of the
// GET that opened it while reads follow on from 0, another GET with a
// Range after a seek elsewhere (a 206).
type s3Reader struct {
	s       *s3Storage
	ctx     context.Context
	key     string
	size    int64
	pos     int64
	body    io.ReadCloser
	bodyPos int64
}

func (r *s3Reader) Read(p []byte) (int, error) {
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if r.body == nil || r.bodyPos != r.pos {
		if err := r.reopen(); err != nil {
			return 0, err
		}
	}
	n, err := r.body.Read(p)
	r.pos += int64(n)
	r.bodyPos = r.pos
	return n, err
}

func (r *s3Reader) reopen() error {
	r.Close()
	out, err := r.s.client.GetObject(r.ctx, &s3.GetObjectInput{Bucket: aws.String(r.s.bucket), Key: aws.String(r.key),
		Range: aws.String(fmt.Sprintf("bytes=%d-", r.pos))})
	if err != nil {
		return fmt.Errorf("s3 get %s from %d: %w", r.key, r.pos, err)
	}
	r.body, r.bodyPos = out.Body, r.pos
	return nil
}

func (r *s3Reader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.pos
	case io.SeekEnd:
		offset += r.size
	}
	if offset < 0 {
		return 0, errors.New("s3: seek before start")
	}
	r.pos = offset
	return offset, nil
}

func (r *s3Reader) Close() error {
	if r.body == nil {
		return nil
	}
	err := r.body.Close()
	r.body = nil
	return err
}
