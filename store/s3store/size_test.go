package s3store

import (
	"bytes"
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/testenv"
	"github.com/tgsync/tgsync/store/storetest"
)

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
