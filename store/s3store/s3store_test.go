package s3store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/testenv"
	"github.com/tgsync/tgsync/store/storetest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// recorder keeps the headers of every request the SDK sends, to check what
// went over the wire.
type recorder struct {
	mu   sync.Mutex
	reqs []http.Header
	next http.RoundTripper
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	h := req.Header.Clone()
	h.Set("X-Test-Method", req.Method)
	r.reqs = append(r.reqs, h)
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

func (r *recorder) last() http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		return http.Header{}
	}
	return r.reqs[len(r.reqs)-1]
}

// motoClient returns an S3 client for moto and the recorder of its
// requests. Moto needs path-style addressing.
func motoClient(t testing.TB) (*s3.Client, *recorder) {
	t.Helper()
	moto := testenv.StartMoto(t)
	cfg := moto.AWSConfig()
	rec := &recorder{next: http.DefaultTransport}
	cfg.HTTPClient = &http.Client{Transport: rec}
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }), rec
}

// newBucket creates a bucket of its own for the test; the moto server is
// shared by the whole package.
func newBucket(t testing.TB, client *s3.Client) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name := "tgsync-test-" + hex.EncodeToString(b)
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

// place is an object of its own in bucket, for storetest.
func place(client *s3.Client, bucket, key string) storetest.Place {
	return storetest.Place{Open: func() tgsync.Store { return New(client, bucket, key) }, Name: "s3://" + bucket + "/" + key,
		Write: func(t *testing.T, data []byte) {
			if _, err := client.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
				t.Fatal(err)
			}
		}}
}

// TestContract runs the checks every store must pass, against moto.
func TestContract(t *testing.T) {
	client, _ := motoClient(t)
	bucket := newBucket(t, client)
	storetest.Run(t, func(t *testing.T) storetest.Place {
		return place(client, bucket, t.Name()+"/tgsync-state.json")
	})
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		url, bucket, key, err string
	}{
		{"s3://my-bucket/tgsync/", "my-bucket", "tgsync/tgsync-state.json", ""},
		{"s3://my-bucket/a/b/", "my-bucket", "a/b/tgsync-state.json", ""},
		{"s3://my-bucket/", "my-bucket", "tgsync-state.json", ""},
		{"s3://my-bucket", "my-bucket", "tgsync-state.json", ""},
		{"s3://my.bucket-1/prod/state.json", "my.bucket-1", "prod/state.json", ""},
		{"s3://my-bucket/state", "my-bucket", "state", ""},
		{"s3://my-bucket/with space/x?y", "my-bucket", "with space/x?y", ""},
		{"", "", "", "want s3://"},
		{"https://my-bucket/x", "", "", "want s3://"},
		{"S3://my-bucket/x", "", "", "want s3://"},
		{"/var/lib/tgsync/state.json", "", "", "want s3://"},
		{"s3://", "", "", "no bucket name"},
		{"s3:///key", "", "", "no bucket name"},
		{"s3://ab/x", "", "", "3 to 63"},
		{"s3://" + strings.Repeat("a", 64) + "/x", "", "", "3 to 63"},
		{"s3://My-Bucket/x", "", "", "lowercase"},
		{"s3://my_bucket/x", "", "", "lowercase"},
		{"s3://-bucket/x", "", "", "begin and end"},
		{"s3://bucket-/x", "", "", "begin and end"},
		{"s3://my..bucket/x", "", "", `".."`},
		{"s3://arn:aws:s3:us-east-1:123456789012:accesspoint/ap/x", "", "", "lowercase"},
		{"s3://my-bucket//x", "", "", `must not start with "/"`},
		{"s3://my-bucket/" + strings.Repeat("k", 1025), "", "", "1024"},
	}
	for _, tt := range tests {
		name := tt.url
		if len(name) > 60 {
			name = name[:57] + "..."
		}
		t.Run(name, func(t *testing.T) {
			bucket, key, err := ParseURL(tt.url)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %q %q %v, want an error mentioning %q", bucket, key, err, tt.err)
				}
				return
			}
			if err != nil || bucket != tt.bucket || key != tt.key {
				t.Fatalf("got %q %q %v, want %q %q", bucket, key, err, tt.bucket, tt.key)
			}
		})
	}
}

// TestRequests checks what goes over the wire: a create-only first write,
// If-Match with the loaded ETag after that, JSON, and no encryption header
// that would override the bucket's default.
func TestRequests(t *testing.T) {
	client, rec := motoClient(t)
	bucket := newBucket(t, client)
	ctx := testenv.Context(t, time.Minute)
	s := New(client, bucket, "prefix/tgsync-state.json")

	if _, err := s.Save(ctx, storetest.SampleState(3), ""); err != nil {
		t.Fatal(err)
	}
	sent := rec.last()
	if sent.Get("If-None-Match") != "*" || sent.Get("If-Match") != "" {
		t.Errorf("first save sent If-None-Match %q If-Match %q, want * and nothing", sent.Get("If-None-Match"), sent.Get("If-Match"))
	}
	if sent.Get("Content-Type") != "application/json" {
		t.Errorf("content type %q, want application/json", sent.Get("Content-Type"))
	}
	for name := range sent {
		if strings.HasPrefix(strings.ToLower(name), "x-amz-server-side-encryption") {
			t.Errorf("save sent %s; the bucket's default encryption should apply", name)
		}
	}

	got, loadedRev, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got.Binding("more").LastError = "second save"
	rev2, err := s.Save(ctx, got, loadedRev)
	if err != nil {
		t.Fatal(err)
	}
	if sent := rec.last(); sent.Get("If-Match") != loadedRev || sent.Get("If-None-Match") != "" {
		t.Errorf("second save sent If-Match %q If-None-Match %q, want %q and nothing", sent.Get("If-Match"), sent.Get("If-None-Match"), loadedRev)
	}
	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("prefix/tgsync-state.json")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(head.ContentType) != "application/json" || aws.ToString(head.ETag) != rev2 {
		t.Errorf("stored object: content type %q etag %q, want application/json and %q", aws.ToString(head.ContentType), aws.ToString(head.ETag), rev2)
	}
}

// TestConflicts checks each way another writer can get in between, against
// what moto 5.2.1 does with the conditional headers: PutObject with
// If-None-Match: * on an existing key and If-Match with another ETag answer
// 412 PreconditionFailed; If-Match on a deleted key answers 404 NoSuchKey.
// These are AWS's answers too.
func TestConflicts(t *testing.T) {
	client, _ := motoClient(t)
	bucket := newBucket(t, client)
	tests := []struct {
		name     string
		initial  bool // the object exists before the two loads
		between  func(t *testing.T, key string)
		wantCode string // the S3 error code beneath ErrConflict
	}{
		{name: "create-only: object appeared", wantCode: "PreconditionFailed"},
		{name: "if-match: object changed", initial: true, wantCode: "PreconditionFailed"},
		{name: "if-match: object deleted", initial: true, wantCode: "NoSuchKey", between: func(t *testing.T, key string) {
			if _, err := client.DeleteObject(testenv.Context(t, time.Minute), &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := fmt.Sprintf("conflict-%d/state.json", i)
			var between func(*testing.T)
			if tt.between != nil {
				between = func(t *testing.T) { tt.between(t, key) }
			}
			o := storetest.Race(t, place(client, bucket, key), tt.initial, between)
			if code := errorCode(o.Err); code != tt.wantCode {
				t.Fatalf("moto answered %q (%v), want %s", code, o.Err, tt.wantCode)
			}
		})
	}
}

func TestNoSuchBucket(t *testing.T) {
	client, _ := motoClient(t)
	ctx := testenv.Context(t, time.Minute)
	s := New(client, "tgsync-test-no-such-bucket", "state.json")
	want := "bucket tgsync-test-no-such-bucket does not exist in region us-east-1: create it or fix state.s3"
	if _, _, err := s.Load(ctx); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("load: got %v, want %q", err, want)
	}
	if _, err := s.Save(ctx, storetest.SampleState(1), ""); err == nil || !strings.Contains(err.Error(), want) || errors.Is(err, tgsync.ErrConflict) {
		t.Errorf("save: got %v, want %q", err, want)
	}
}

func TestUnreadableObject(t *testing.T) {
	client, _ := motoClient(t)
	bucket := newBucket(t, client)
	tests := []struct {
		name, content string
		want          []string
	}{
		{"empty", "", []string{"corrupt", "restore"}},
		{"garbage", "<html>not json</html>", []string{"corrupt", "restore"}},
		{"truncated", `{"version":1,"bindings":{"a":`, []string{"corrupt"}},
		{"no version", `{"bindings":{}}`, []string{"corrupt", "no version"}},
		{"newer version", `{"version":7}`, []string{"version 7", "upgrade tgsync"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testenv.Context(t, time.Minute)
			key := fmt.Sprintf("bad-%d.json", i)
			if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(tt.content)}); err != nil {
				t.Fatal(err)
			}
			_, _, err := New(client, bucket, key).Load(ctx)
			if err == nil {
				t.Fatalf("load of %q: want an error", tt.content)
			}
			for _, w := range append(tt.want, "s3://"+bucket+"/"+key) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestLoadReadsStateOnce loads an object of the cap's size whose decode
// allocates next to nothing (a small state padded with white space), so
// that what Load allocates is the read of the body and the SDK's request:
// the body must cost its size once, not the doublings of io.ReadAll, which
// in the Lambda function's 128 MB count as much as the decode.
func TestLoadReadsStateOnce(t *testing.T) {
	client, _ := motoClient(t)
	bucket := newBucket(t, client)
	ctx := testenv.Context(t, time.Minute)
	data, err := tgsync.EncodeState(storetest.SampleState(1))
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, bytes.Repeat([]byte{' '}, tgsync.MaxStateBytes-len(data))...)
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("full.json"), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	s := New(client, bucket, "full.json")
	if _, _, err := s.Load(ctx); err != nil { // the SDK's first-use work
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, _, err = s.Load(context.Background())
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("load of %d bytes allocated %d bytes (%.2f per byte)", len(data), allocated, float64(allocated)/float64(len(data)))
	if limit := uint64(len(data)) * 5 / 4; allocated > limit {
		t.Errorf("load of %d bytes allocated %d bytes, want at most %d", len(data), allocated, limit)
	}
}
