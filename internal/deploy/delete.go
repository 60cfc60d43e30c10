package deploy

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
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
	Out   io.Writer
}

// Delete deletes the stack, and the state when asked. A stack that does
// not exist is no error: there is nothing to delete.
func Delete(ctx context.Context, awsCfg aws.Config, o DeleteOptions) error {
	if o.Stack == "" {
		o.Stack = DefaultStack
	}
	if !validStackName(o.Stack) {
		return usage("--stack %q: a stack name has 1 to 128 letters, digits and '-', and starts with a letter", o.Stack)
	}
	if o.Poll <= 0 {
		o.Poll = 2 * time.Second
	}
	if awsCfg.Region == "" {
		return usage("no AWS Region: set AWS_REGION (or give --config, whose target groups name it)")
	}
	c := newClients(awsCfg)
	st, err := describeStack(ctx, c.cfn, o.Stack)
	if err != nil {
		return err
	}
	if st == nil {
		fmt.Fprintf(o.Out, "Stack %s does not exist in %s: nothing to delete.\n", o.Stack, awsCfg.Region)
		return nil
	}
	bucket, stateURL := output(st, "StateBucketName"), output(st, "StateObjectUrl")
	created := stackParameters(st)["StateBucket"] == ""
	if err := deleteAndWait(ctx, c.cfn, o.Poll, aws.ToString(st.StackId)); err != nil {
		return fmt.Errorf("stack %s: %w", o.Stack, err)
	}
	fmt.Fprintf(o.Out, "Stack %s: deleted.\n", o.Stack)
	switch {
	case bucket == "":
		return nil
	case !o.State:
		fmt.Fprintf(o.Out, "Kept the state, %s (the targets stay registered; deploy again to go on from it, or add --delete-state to remove it).\n", stateURL)
		return nil
	case created:
		n, err := deleteVersions(ctx, c.s3, bucket, "")
		if err != nil {
			return fmt.Errorf("delete the state bucket %s: %w", bucket, err)
		}
		if _, err := c.s3.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
			return fmt.Errorf("delete the state bucket %s (%d object versions deleted): %w", bucket, n, err)
		}
		fmt.Fprintf(o.Out, "Deleted the state bucket %s (%d object versions).\n", bucket, n)
	default:
		key := strings.TrimPrefix(strings.TrimPrefix(stateURL, "s3://"+bucket), "/")
		n, err := deleteVersions(ctx, c.s3, bucket, key)
		if err != nil {
			return fmt.Errorf("delete the state object %s: %w", stateURL, err)
		}
		fmt.Fprintf(o.Out, "Deleted the state object %s (%d versions); the bucket %s was not the stack's and stays.\n", stateURL, n, bucket)
	}
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
