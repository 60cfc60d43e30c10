package deploy

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// DeleteOptions is one tgsync deploy --delete.
type DeleteOptions struct {
	Stack string
	// State deletes the state as well: the bucket the stack created, with
	// every version in it, or, in a bucket the stack was given, every
	// version of the state object. Without it the state stays, since it
	// holds what tgsync registered and its miss counters.
	State bool
	Poll  time.Duration
	// Out gets the text of the Result as the delete goes; nil writes
	// nothing.
	Out io.Writer
}

// Delete deletes the stack, and the state when asked, writes the text of
// what it did to Out and returns it as a Result: nil only when the options
// are refused. A stack that does not exist is no error: there is nothing
// to delete.
func Delete(ctx context.Context, awsCfg aws.Config, o DeleteOptions) (*Result, error) {
	if err := commonDefaults(&o.Stack, &o.Poll, &o.Out); err != nil {
		return nil, err
	}
	if awsCfg.Region == "" {
		return nil, usage("no AWS Region: set AWS_REGION (or give --config, whose target groups name it)")
	}
	r := &Result{Stack: o.Stack, Region: awsCfg.Region, Action: ActionDelete}
	return r, deleteStack(ctx, newClients(awsCfg), o, r)
}

func deleteStack(ctx context.Context, c clients, o DeleteOptions, r *Result) error {
	st, err := describeStack(ctx, c.cfn, o.Stack)
	if err != nil {
		return err
	}
	if st == nil {
		r.Action = ActionNone
		writeNothingToDelete(o.Out, r)
		return nil
	}
	r.Status = string(st.StackStatus)
	bucket, stateURL := output(st, "StateBucketName"), output(st, "StateObjectUrl")
	created := stackParameters(st)["StateBucket"] == ""
	if err := deleteAndWait(ctx, c.cfn, o.Poll, aws.ToString(st.StackId)); err != nil {
		return fmt.Errorf("stack %s: %w", o.Stack, err)
	}
	r.Status = string(cfntypes.StackStatusDeleteComplete)
	writeDeleted(o.Out, r)
	if bucket == "" {
		return nil
	}
	s := &DeleteState{Bucket: bucket, URL: stateURL, Kept: true, BucketKept: true}
	switch {
	case !o.State:
	case created:
		n, err := deleteVersions(ctx, c.s3, bucket, "")
		if err != nil {
			return fmt.Errorf("delete the state bucket %s: %w", bucket, err)
		}
		if _, err := c.s3.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
			return fmt.Errorf("delete the state bucket %s (%d object versions deleted): %w", bucket, n, err)
		}
		s.Kept, s.BucketKept, s.VersionsDeleted = false, false, n
	default:
		key := strings.TrimPrefix(strings.TrimPrefix(stateURL, "s3://"+bucket), "/")
		n, err := deleteVersions(ctx, c.s3, bucket, key)
		if err != nil {
			return fmt.Errorf("delete the state object %s: %w", stateURL, err)
		}
		s.Kept, s.VersionsDeleted = false, n
	}
	r.State = s
	writeState(o.Out, s)
	return nil
}

// deleteVersions deletes every version and delete marker in bucket, or
// only those of the key when it is not "", and returns how many.
func deleteVersions(ctx context.Context, c *s3.Client, bucket, key string) (int, error) {
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)}
	if key != "" {
		in.Prefix = aws.String(key)
	}
	n := 0
	p := s3.NewListObjectVersionsPaginator(c, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return n, err
		}
		var ids []s3types.ObjectIdentifier
		for _, v := range page.Versions {
			if key == "" || aws.ToString(v.Key) == key {
				ids = append(ids, s3types.ObjectIdentifier{Key: v.Key, VersionId: v.VersionId})
			}
		}
		for _, m := range page.DeleteMarkers {
			if key == "" || aws.ToString(m.Key) == key {
				ids = append(ids, s3types.ObjectIdentifier{Key: m.Key, VersionId: m.VersionId})
			}
		}
		if len(ids) == 0 {
			continue
		}
		out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &s3types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err != nil {
			return n, err
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return n, fmt.Errorf("%s: %s: %s", aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
		}
		n += len(ids)
	}
	return n, nil
}
