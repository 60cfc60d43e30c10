package s3store

import (
	"errors"
	"fmt"
	"strings"
)

// ParseURL splits s3://bucket/key. A URL ending in "/" (or naming only the
// bucket) is a prefix and gets DefaultObjectName appended; any other path
// is the object key as it stands.
func ParseURL(raw string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(raw, "s3://")
	if !ok {
		return "", "", fmt.Errorf("state URL %q: want s3://bucket/prefix/ or s3://bucket/key", raw)
	}
	bucket, key, _ = strings.Cut(rest, "/")
	if err := checkBucket(bucket); err != nil {
		return "", "", fmt.Errorf("state URL %q: %w", raw, err)
	}
	if strings.HasPrefix(key, "/") {
		return "", "", fmt.Errorf("state URL %q: the key must not start with \"/\"; write s3://%s/%s", raw, bucket, strings.TrimLeft(key, "/"))
	}
	if key == "" || strings.HasSuffix(key, "/") {
		key += DefaultObjectName
	}
	if len(key) > 1024 {
		return "", "", fmt.Errorf("state URL %q: the key is %d bytes; S3 allows 1024", raw, len(key))
	}
	return bucket, key, nil
}

// checkBucket applies the S3 bucket naming rules that catch typos: 3 to 63
// characters of lowercase letters, digits, dots and hyphens, beginning and
// ending with a letter or digit.
func checkBucket(b string) error {
	if b == "" {
		return errors.New("no bucket name")
	}
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket name %q must be 3 to 63 characters long", b)
	}
	for i, r := range b {
		alnum := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		if !alnum && (r != '.' && r != '-' || i == 0 || i == len(b)-1) {
			return fmt.Errorf("bucket name %q may hold only lowercase letters, digits, dots and hyphens, and must begin and end with a letter or digit", b)
		}
	}
	if strings.Contains(b, "..") {
		return fmt.Errorf("bucket name %q must not contain \"..\"", b)
	}
	return nil
}
