package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3 is a Target in a bucket of an S3-compatible store (AWS S3, MinIO, versitygw,
// Ceph, R2), through minio-go. Like Dir, an archive NAME has a small object
// NAME.sha256 beside it, written once the archive is whole; an archive is uploaded in
// parts (multipart upload), so it exists only once every part is in.
type S3 struct {
	Endpoint, Bucket, Prefix, Region string
	AccessKey, SecretKey             string
	client                           *minio.Client

	// sums are the checksum sidecars read so far, by archive name: written once and
	// never changed, they are read once, not at every List (the dashboard lists often)
	mu   sync.Mutex
	sums map[string]Object
}

// NewS3 connects to the store at endpoint (an http:// or https:// URL).
func NewS3(endpoint, bucket, prefix, region, accessKey, secretKey string) (*S3, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("s3 endpoint %q: want a URL like https://s3.eu-west-1.amazonaws.com", endpoint)
	}
	c, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(accessKey, secretKey, ""), Secure: u.Scheme == "https", Region: region,
		BucketLookup: minio.BucketLookupPath})
	if err != nil {
		return nil, fmt.Errorf("s3 endpoint %s: %w", endpoint, err)
	}
	return &S3{Endpoint: endpoint, Bucket: bucket, Prefix: prefix, Region: region, AccessKey: accessKey, SecretKey: secretKey, client: c}, nil
}

func (s *S3) String() string { return "s3://" + s.Bucket + "/" + s.Prefix }

// partSize is the size of an upload's parts: what an upload holds in memory.
const partSize = 16 << 20

func (s *S3) Put(ctx context.Context, name string, write func(io.Writer) error) (Object, error) {
	if err := checkName(name); err != nil {
		return Object{}, err
	}
	start := time.Now()
	pr, pw := io.Pipe()
	h := sha256.New()
	cw := &counter{w: io.MultiWriter(pw, h)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	werr := make(chan error, 1)
	go func() {
		err := write(cw)
		pw.CloseWithError(err)
		werr <- err
	}()
	_, err := s.client.PutObject(ctx, s.Bucket, s.Prefix+name, pr, -1, minio.PutObjectOptions{PartSize: partSize, ContentType: "application/octet-stream"})
	pr.CloseWithError(errors.New("upload ended")) // a writer still writing stops
	if wErr := <-werr; wErr != nil {
		// the upload failed with the writer's error: minio-go aborted the parts
		_ = s.client.RemoveObject(context.Background(), s.Bucket, s.Prefix+name, minio.RemoveObjectOptions{})
		return Object{}, fmt.Errorf("write %s to %s: %w", name, s, wErr)
	}
	if err != nil {
		return Object{}, fmt.Errorf("upload %s to %s: %w", name, s, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	took := time.Since(start)
	side := fmt.Sprintf("%s  %s  %s\n", sum, name, took.Round(time.Millisecond))
	if _, err := s.client.PutObject(ctx, s.Bucket, s.Prefix+name+sumSuffix, strings.NewReader(side), int64(len(side)), minio.PutObjectOptions{ContentType: "text/plain"}); err != nil {
		_ = s.client.RemoveObject(context.Background(), s.Bucket, s.Prefix+name, minio.RemoveObjectOptions{})
		return Object{}, fmt.Errorf("write %s's checksum to %s: %w", name, s, err)
	}
	return Object{Name: name, Size: cw.n, Time: time.Now().UTC(), SHA256: sum, Took: took}, nil
}

func (s *S3) List(ctx context.Context, prefix string) ([]Object, error) {
	objs := map[string]minio.ObjectInfo{}
	sums := map[string]bool{}
	for o := range s.client.ListObjects(ctx, s.Bucket, minio.ListObjectsOptions{Prefix: s.Prefix + prefix}) {
		if o.Err != nil {
			return nil, fmt.Errorf("list %s: %w", s, o.Err)
		}
		name := strings.TrimPrefix(o.Key, s.Prefix)
		if n, ok := strings.CutSuffix(name, sumSuffix); ok {
			sums[n] = true
		} else if !strings.Contains(name, "/") {
			objs[name] = o
		}
	}
	var out []Object
	for name, o := range objs {
		if !sums[name] {
			continue
		}
		obj := Object{Name: name, Size: o.Size, Time: o.LastModified.UTC()}
		if side, err := s.readSum(ctx, name); err == nil {
			obj.SHA256, obj.Took = side.SHA256, side.Took
		}
		out = append(out, obj)
	}
	slices.SortFunc(out, func(a, b Object) int { return a.Time.Compare(b.Time) })
	return out, nil
}

func (s *S3) readSum(ctx context.Context, name string) (Object, error) {
	s.mu.Lock()
	o, ok := s.sums[name]
	s.mu.Unlock()
	if ok {
		return o, nil
	}
	r, err := s.client.GetObject(ctx, s.Bucket, s.Prefix+name+sumSuffix, minio.GetObjectOptions{})
	if err != nil {
		return Object{}, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil {
		return Object{}, err
	}
	o = parseSum(string(b))
	s.mu.Lock()
	if s.sums == nil {
		s.sums = map[string]Object{}
	}
	s.sums[name] = o
	s.mu.Unlock()
	return o, nil
}

func (s *S3) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	r, err := s.client.GetObject(ctx, s.Bucket, s.Prefix+name, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("open backup %s in %s: %w", name, s, err)
	}
	return r, nil
}

func (s *S3) Remove(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.sums, name)
	s.mu.Unlock()
	if err := s.client.RemoveObject(ctx, s.Bucket, s.Prefix+name+sumSuffix, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("remove backup %s's checksum from %s: %w", name, s, err)
	}
	if err := s.client.RemoveObject(ctx, s.Bucket, s.Prefix+name, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("remove backup %s from %s: %w", name, s, err)
	}
	return nil
}
