package s3store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/store/storetest"
)

// fakeS3 is an HTTP server on loopback that answers every request with one
// canned S3 response, byte for byte in the REST-XML shape AWS uses, so that
// the real SDK client parses it. It stands in for the AWS answers moto
// 5.2.1 never gives:
//   - 409 ConditionalRequestConflict, which S3 returns when a conditional
//     write races another conditional write to the same key still in flight
//     (moto checks and writes without a lock and so never sees the race);
//   - 403 AccessDenied, which S3 returns when the role lacks s3:GetObject or
//     s3:PutObject (moto does not enforce IAM unless told to for the whole
//     server, which other tests share);
//   - 301 PermanentRedirect, for a bucket in another region (moto has one
//     namespace for all regions);
//   - a GetObject body sent chunked, without Content-Length, which S3
//     itself does not do but a proxy in the way may.
type fakeS3 struct {
	status int
	code   string // empty: a success with body and etag
	body   string
	etag   string

	mu   sync.Mutex
	seen []*http.Request
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.seen = append(f.seen, r.Clone(context.Background()))
	f.mu.Unlock()
	w.Header().Set("x-amz-request-id", "FAKE0REQUEST0ID")
	if f.code == "" {
		if f.etag != "" {
			w.Header().Set("ETag", f.etag)
		}
		w.WriteHeader(f.status)
		fmt.Fprint(w, f.body)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(f.status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>%s</Code><Message>%s</Message><RequestId>FAKE0REQUEST0ID</RequestId><HostId>ZmFrZQ==</HostId></Error>`, f.code, messages[f.code])
}

// messages are the texts AWS sends with each code.
var messages = map[string]string{
	"ConditionalRequestConflict": "A conflicting conditional operation is currently in progress against this resource. Please try again.",
	"PreconditionFailed":         "At least one of the pre-conditions you specified did not hold",
	"AccessDenied":               "Access Denied",
	"PermanentRedirect":          "The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.",
	"InternalError":              "We encountered an internal error. Please try again.",
}

func fakeClient(t *testing.T, f *fakeS3, region string) *s3.Client {
	t.Helper()
	srv := httptest.NewServer(f) // binds 127.0.0.1
	t.Cleanup(srv.Close)
	return s3.New(s3.Options{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		Retryer:      aws.NopRetryer{},
	})
}

func TestAWSAnswers(t *testing.T) {
	const bucket, key = "state-bucket", "tgsync/tgsync-state.json"
	tests := []struct {
		name     string
		region   string
		fake     *fakeS3
		save     bool   // Save (with revision rev) instead of Load
		rev      string // revision passed to Save
		conflict bool
		want     []string
	}{
		{name: "create-only write races another", save: true, fake: &fakeS3{status: 409, code: "ConditionalRequestConflict"},
			conflict: true, want: []string{"in progress"}},
		{name: "if-match write races another", save: true, rev: `"abc"`, fake: &fakeS3{status: 409, code: "ConditionalRequestConflict"},
			conflict: true, want: []string{"in progress"}},
		{name: "if-match precondition failed", save: true, rev: `"abc"`, fake: &fakeS3{status: 412, code: "PreconditionFailed"},
			conflict: true, want: []string{`ETag "abc"`}},
		{name: "load denied", fake: &fakeS3{status: 403, code: "AccessDenied"},
			want: []string{"access denied", "s3:GetObject", "arn:aws:s3:::state-bucket/tgsync/tgsync-state.json"}},
		{name: "save denied", save: true, fake: &fakeS3{status: 403, code: "AccessDenied"},
			want: []string{"access denied", "s3:PutObject", "arn:aws:s3:::state-bucket/tgsync/tgsync-state.json"}},
		{name: "save denied in China", region: "cn-north-1", save: true, fake: &fakeS3{status: 403, code: "AccessDenied"},
			want: []string{"s3:PutObject", "arn:aws-cn:s3:::state-bucket/"}},
		{name: "bucket in another region", fake: &fakeS3{status: 301, code: "PermanentRedirect"},
			want: []string{"not in region us-east-1"}},
		{name: "server error", fake: &fakeS3{status: 500, code: "InternalError"},
			want: []string{"load state from s3://state-bucket/tgsync/tgsync-state.json", "InternalError"}},
		{name: "load without etag", fake: &fakeS3{status: 200, body: `{"version":1}`},
			want: []string{"no ETag"}},
		{name: "load of a body over the cap without length", fake: &fakeS3{status: 200, etag: `"abc"`, body: `{"version":1}` + strings.Repeat(" ", tgsync.MaxStateBytes)},
			want: []string{fmt.Sprintf("more than %d bytes", tgsync.MaxStateBytes), "probably names the wrong object"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			region := tt.region
			if region == "" {
				region = "us-east-1"
			}
			s := New(fakeClient(t, tt.fake, region), bucket, key)
			var err error
			if tt.save {
				_, err = s.Save(context.Background(), storetest.SampleState(1), tt.rev)
			} else {
				_, _, err = s.Load(context.Background())
			}
			if err == nil {
				t.Fatal("want an error")
			}
			if errors.Is(err, tgsync.ErrConflict) != tt.conflict {
				t.Errorf("ErrConflict = %v, want %v: %v", !tt.conflict, tt.conflict, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if len(tt.fake.seen) != 1 {
				t.Fatalf("want one request, got %d", len(tt.fake.seen))
			}
			if tt.save {
				r := tt.fake.seen[0]
				wantIfMatch, wantIfNone := tt.rev, ""
				if tt.rev == "" {
					wantIfNone = "*"
				}
				if r.Header.Get("If-Match") != wantIfMatch || r.Header.Get("If-None-Match") != wantIfNone {
					t.Errorf("sent If-Match %q If-None-Match %q, want %q %q", r.Header.Get("If-Match"), r.Header.Get("If-None-Match"), wantIfMatch, wantIfNone)
				}
			}
		})
	}
}
