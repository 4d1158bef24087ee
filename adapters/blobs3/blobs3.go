// Package blobs3 is the blob.Store of production: S3-compatible object
// storage through aws-sdk-go-v2 (AWS S3, MinIO, Ceph, R2 ... with a custom
// endpoint and path-style addressing). Objects are private; reads go
// through the service, which authorises them.
package blobs3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/blob"
)

// Config configures the store. Suggested variable names are in brackets.
type Config struct {
	// Bucket [S3_BUCKET] is required.
	Bucket string
	// Prefix [S3_PREFIX, default none] is put before every key, e.g.
	// "tradesense/"; it must end with "/" when set.
	Prefix string
	// Region [S3_REGION, default the standard chain's, else us-east-1].
	Region string
	// Endpoint [S3_ENDPOINT, default AWS] is the base URL of an
	// S3-compatible service, e.g. http://minio:9000.
	Endpoint string
	// PathStyle [S3_FORCE_PATH_STYLE, default false] addresses buckets as
	// /bucket/key (MinIO and most self-hosted services need it).
	PathStyle bool
	// AccessKeyID and SecretAccessKey [S3_ACCESS_KEY_ID,
	// S3_SECRET_ACCESS_KEY (a secret)] are static credentials; when empty
	// the standard AWS chain is used (environment, IRSA, instance roles).
	AccessKeyID     string
	SecretAccessKey string
	// HTTPClient overrides the SDK's HTTP client (tests).
	HTTPClient *http.Client
}

// Store is the S3 implementation of blob.Store.
type Store struct {
	api    *s3.Client
	bucket string
	prefix string
}

var _ blob.Store = (*Store)(nil)

// New builds the client. It does not contact the service.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("blobs3: S3_BUCKET is required")
	}
	if cfg.Prefix != "" && (!strings.HasSuffix(cfg.Prefix, "/") || blob.ValidateKey(strings.TrimSuffix(cfg.Prefix, "/")) != nil) {
		return nil, fmt.Errorf("blobs3: S3_PREFIX %q must be key segments ending with /", cfg.Prefix)
	}
	var opts []func(*config.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, config.WithHTTPClient(cfg.HTTPClient))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("blobs3: load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	api := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		// Checksums only where the API requires them: S3-compatible
		// services do not all speak the newer trailing checksums.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	return &Store{api: api, bucket: cfg.Bucket, prefix: cfg.Prefix}, nil
}

func (s *Store) object(key string) (string, error) {
	if err := blob.ValidateKey(key); err != nil {
		return "", err
	}
	return s.prefix + key, nil
}

// translate maps SDK errors to apperr kinds.
func translate(err error, key string) error {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return blob.NotFound(key)
	}
	var api smithy.APIError
	if errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound") {
		return blob.NotFound(key)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return apperr.Wrap(err, apperr.Unavailable, "blob_store_timeout", "the object store did not answer in time")
	}
	return apperr.Wrap(err, apperr.Unavailable, "blob_store_unavailable", "the object store failed")
}

// exact yields exactly size bytes of r or fails: on a short read it
// records the mismatch; when r has more than size bytes it withholds the
// last read, so the request body ends short and the service stores
// nothing.
type exact struct {
	r        io.Reader
	left     int64
	size     int64
	mismatch bool
	got      int64
}

func (e *exact) Read(p []byte) (int, error) {
	if e.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	e.got += int64(n)
	if errors.Is(err, io.EOF) && e.left > 0 {
		e.mismatch = true
		return n, io.ErrUnexpectedEOF
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return n, err
	}
	if e.left == 0 {
		var one [1]byte
		if m, _ := io.ReadFull(e.r, one[:]); m > 0 {
			e.mismatch, e.got = true, e.got+1
			return 0, errors.New("blobs3: the content is longer than announced")
		}
	}
	return n, nil
}

// Put implements blob.Store: one PutObject (S3 replaces objects
// atomically), streamed with UNSIGNED-PAYLOAD so that the body need not be
// seekable (the transport's TLS protects it in production).
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	obj, err := s.object(key)
	if err != nil {
		return err
	}
	body := &exact{r: r, left: size, size: size}
	_, err = s.api.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(obj), Body: body, ContentLength: aws.Int64(size), ContentType: aws.String(contentType),
	}, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
	if body.mismatch {
		return blob.SizeMismatch(size, body.got)
	}
	if err != nil {
		return translate(err, key)
	}
	return nil
}

// Open implements blob.Store.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, blob.Info, error) {
	obj, err := s.object(key)
	if err != nil {
		return nil, blob.Info{}, err
	}
	out, err := s.api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(obj)})
	if err != nil {
		return nil, blob.Info{}, translate(err, key)
	}
	return out.Body, blob.Info{Key: key, Size: aws.ToInt64(out.ContentLength), ContentType: aws.ToString(out.ContentType),
		ModTime: aws.ToTime(out.LastModified).UTC()}, nil
}

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	obj, err := s.object(key)
	if err != nil {
		return blob.Info{}, err
	}
	out, err := s.api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(obj)})
	if err != nil {
		return blob.Info{}, translate(err, key)
	}
	return blob.Info{Key: key, Size: aws.ToInt64(out.ContentLength), ContentType: aws.ToString(out.ContentType),
		ModTime: aws.ToTime(out.LastModified).UTC()}, nil
}

// Delete implements blob.Store (S3's DeleteObject is idempotent).
func (s *Store) Delete(ctx context.Context, key string) error {
	obj, err := s.object(key)
	if err != nil {
		return err
	}
	if _, err := s.api.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(obj)}); err != nil {
		return translate(err, key)
	}
	return nil
}
