// Package s3store keeps tgsync state in one S3 object, for the Lambda and
// for several daemons that share state.
//
// Overlapping runs are safe because every write is conditional: the first
// write of the object sends If-None-Match: *, later writes send If-Match
// with the ETag that Load returned. S3 answers 412 Precondition Failed (or
// 409 ConditionalRequestConflict while another conditional write is in
// flight) when someone else wrote first; Save reports that as
// tgsync.ErrConflict and the reconciler reloads and plans again.
package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/tgsync/tgsync"
)

// API is the part of the S3 client the store uses.
type API interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

var (
	_ API          = (*s3.Client)(nil)
	_ tgsync.Store = (*Store)(nil)
)

// DefaultObjectName is the object a URL ending in "/" refers to.
const DefaultObjectName = "tgsync-state.json"

// Store is a tgsync.Store in one S3 object. Its revision is the object's
// ETag.
type Store struct {
	client API
	bucket string
	key    string
}

// New returns a store for s3://bucket/key.
func New(client API, bucket, key string) *Store {
	return &Store{client: client, bucket: bucket, key: key}
}

// URL returns the object's s3:// URL.
func (s *Store) URL() string { return "s3://" + s.bucket + "/" + s.key }

// Load reads the state object. A missing object is a new, empty state with
// revision "".
func (s *Store) Load(ctx context.Context) (*tgsync.State, string, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key)})
	if err != nil {
		if errorCode(err) == "NoSuchKey" {
			return tgsync.NewState(), "", nil
		}
		return nil, "", s.explain("load state from", "s3:GetObject", err)
	}
	defer out.Body.Close()
	size := aws.ToInt64(out.ContentLength)
	if size > tgsync.MaxStateBytes {
		return nil, "", s.tooLarge(fmt.Sprintf("%d bytes", size))
	}
	data, err := readBody(out.Body, size)
	if err != nil {
		return nil, "", fmt.Errorf("load state from %s: read body: %w", s.URL(), err)
	}
	if len(data) > tgsync.MaxStateBytes {
		return nil, "", s.tooLarge(fmt.Sprintf("more than %d bytes", tgsync.MaxStateBytes))
	}
	etag := aws.ToString(out.ETag)
	if etag == "" {
		return nil, "", fmt.Errorf("load state from %s: S3 returned no ETag, which conditional writes need", s.URL())
	}
	st, err := decode(s.URL(), data)
	if err != nil {
		return nil, "", err
	}
	return st, etag, nil
}

// Save writes st if the object still has the given ETag, or, with revision
// "", only if the object does not exist yet. When another writer got there
// first the error wraps tgsync.ErrConflict.
func (s *Store) Save(ctx context.Context, st *tgsync.State, revision string) (string, error) {
	if st == nil {
		return "", fmt.Errorf("save state to %s: state is nil", s.URL())
	}
	data, err := tgsync.EncodeState(st)
	if err != nil {
		return "", fmt.Errorf("save state to %s: %w", s.URL(), err)
	}
	if len(data) > tgsync.MaxStateBytes {
		// Written, it could not be loaded again; the object keeps the
		// last state that can.
		return "", fmt.Errorf("save state to %s: the state is %d bytes, more than the %d bytes (%d MiB) a tgsync state can be: split the bindings across configs with state objects of their own",
			s.URL(), len(data), tgsync.MaxStateBytes, tgsync.MaxStateBytes>>20)
	}
	// No server-side encryption header: S3 encrypts every object (SSE-S3)
	// by default and applies the bucket's default SSE-KMS key if one is
	// set; a header here would override the bucket owner's choice.
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(s.key),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentType:   aws.String("application/json"),
	}
	if revision == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(revision)
	}
	out, err := s.client.PutObject(ctx, in)
	if err != nil {
		switch code := errorCode(err); {
		case code == "PreconditionFailed" || (code == "" && httpStatus(err) == 412):
			return "", fmt.Errorf("save state to %s: %s: %w: %w", s.URL(), conflictReason(revision), tgsync.ErrConflict, err)
		case code == "ConditionalRequestConflict":
			return "", fmt.Errorf("save state to %s: another conditional write to the object is in progress: %w: %w", s.URL(), tgsync.ErrConflict, err)
		case revision != "" && (code == "NoSuchKey" || (code == "" && httpStatus(err) == 404)):
			// If-Match on a missing object: someone deleted it since Load.
			return "", fmt.Errorf("save state to %s: the object was deleted since it was loaded: %w: %w", s.URL(), tgsync.ErrConflict, err)
		}
		return "", s.explain("save state to", "s3:PutObject", err)
	}
	return aws.ToString(out.ETag), nil
}

// readBody reads at most tgsync.MaxStateBytes+1 bytes into one buffer
// sized by the object's Content-Length, so that a state costs its size once
// rather than the doublings of io.ReadAll.
func readBody(body io.Reader, size int64) ([]byte, error) {
	buf := bytes.NewBuffer(make([]byte, 0, max(size, 0)+bytes.MinRead))
	_, err := buf.ReadFrom(io.LimitReader(body, tgsync.MaxStateBytes+1))
	return buf.Bytes(), err
}

// tooLarge says that the object holds more than a state can be, which
// most likely means that the key is wrong: Save never writes that much.
func (s *Store) tooLarge(size string) error {
	return fmt.Errorf("load state from %s: the object is %s, larger than the %d bytes (%d MiB) a tgsync state can be (100 bindings with full histories take about 1 MB), so state.s3 probably names the wrong object: point it at tgsync's state",
		s.URL(), size, tgsync.MaxStateBytes, tgsync.MaxStateBytes>>20)
}

func conflictReason(revision string) string {
	if revision == "" {
		return "another writer created the object since it was found missing"
	}
	return fmt.Sprintf("another writer changed the object since it was loaded at ETag %s", revision)
}

// explain turns the S3 errors an operator can fix into messages that say
// how.
func (s *Store) explain(op, action string, err error) error {
	region := s.region()
	switch errorCode(err) {
	case "NoSuchBucket":
		return fmt.Errorf("%s %s: bucket %s does not exist in region %s: create it or fix state.s3: %w", op, s.URL(), s.bucket, region, err)
	case "AccessDenied", "AllAccessDisabled":
		return fmt.Errorf("%s %s: access denied: the role needs %s on %s (and kms:GenerateDataKey and kms:Decrypt on the key if the bucket uses SSE-KMS): %w",
			op, s.URL(), action, s.objectARN(region), err)
	case "PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException":
		return fmt.Errorf("%s %s: bucket %s is not in region %s: set the region of the state bucket: %w", op, s.URL(), s.bucket, region, err)
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken":
		return fmt.Errorf("%s %s: the AWS credentials were refused: check the role or profile tgsync runs with: %w", op, s.URL(), err)
	}
	return fmt.Errorf("%s %s: %w", op, s.URL(), err)
}

// region is the client's region when the client can tell, for messages.
func (s *Store) region() string {
	if c, ok := s.client.(interface{ Options() s3.Options }); ok && c.Options().Region != "" {
		return c.Options().Region
	}
	return "(the client's region)"
}

// objectARN names the object as an IAM policy would.
func (s *Store) objectARN(region string) string {
	partition := "aws"
	switch {
	case strings.HasPrefix(region, "cn-"):
		partition = "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		partition = "aws-us-gov"
	}
	return fmt.Sprintf("arn:%s:s3:::%s/%s", partition, s.bucket, s.key)
}

func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// decode turns object bytes into state, telling an object from a newer
// tgsync (upgrade) apart from a damaged one (restore). Starting from empty
// state instead would forget miss counters and ownership.
func decode(url string, data []byte) (*tgsync.State, error) {
	st, err := tgsync.DecodeState(data)
	if errors.Is(err, tgsync.ErrNewerState) {
		return nil, fmt.Errorf("state object %s: %w", url, err)
	}
	if err != nil {
		return nil, fmt.Errorf("state object %s is corrupt (%w); tgsync will not start from empty state, which would forget miss counters and ownership: restore an earlier version of the object (enable bucket versioning), or delete it to start over deliberately", url, err)
	}
	return st, nil
}
