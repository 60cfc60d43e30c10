package deploy

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Package is a Lambda deployment package for provided.al2023: a zip with
// one executable, bootstrap.
type Package struct {
	Zip []byte
	// Source says where it came from, for the output.
	Source string
	// Architecture is the function's Architecture parameter, read from
	// the bootstrap's ELF header: arm64 or x86_64.
	Architecture string
	// SHA256 is the zip's hash in hex; the upload's key is made of it, so
	// that the same package is uploaded once and an unchanged one leaves
	// the stack unchanged.
	SHA256 string
}

// maxPackage bounds what is read as a package: Lambda takes at most 50 MB
// zipped when uploaded directly, tgsync's is about 4 MB.
const maxPackage = 50 << 20

// ReadPackage checks that zipData is a package Lambda's provided runtimes
// run and finds its architecture.
func ReadPackage(zipData []byte, source string) (Package, error) {
	if len(zipData) > maxPackage {
		return Package{}, fmt.Errorf("%s: %d bytes, more than Lambda's %d", source, len(zipData), maxPackage)
	}
	zr, err := zip.NewReader(bytes.NewReader(zipData), int64(len(zipData)))
	if err != nil {
		return Package{}, fmt.Errorf("%s is not a zip: %w", source, err)
	}
	var boot *zip.File
	for _, f := range zr.File {
		if f.Name == "bootstrap" {
			boot = f
		}
	}
	if boot == nil || boot.Mode()&0o111 == 0 {
		return Package{}, fmt.Errorf("%s holds no executable bootstrap: it is not a tgsync Lambda package (make package writes dist/tgsync-arm64.zip)", source)
	}
	rc, err := boot.Open()
	if err != nil {
		return Package{}, fmt.Errorf("%s: %w", source, err)
	}
	head, err := io.ReadAll(io.LimitReader(rc, 64))
	rc.Close()
	if err != nil {
		return Package{}, fmt.Errorf("%s: %w", source, err)
	}
	arch, err := elfArchitecture(head)
	if err != nil {
		return Package{}, fmt.Errorf("%s: bootstrap: %w", source, err)
	}
	sum := sha256.Sum256(zipData)
	return Package{Zip: zipData, Source: source, Architecture: arch, SHA256: hex.EncodeToString(sum[:])}, nil
}

// elfArchitecture reads the Lambda architecture from the start of an ELF
// file: the magic, class and byte order, and e_machine at offset 18.
func elfArchitecture(head []byte) (string, error) {
	if len(head) < 20 || string(head[:4]) != elf.ELFMAG || elf.Class(head[elf.EI_CLASS]) != elf.ELFCLASS64 ||
		elf.Data(head[elf.EI_DATA]) != elf.ELFDATA2LSB {
		return "", errors.New("not a 64-bit Linux executable (want one built for linux/arm64 or linux/amd64)")
	}
	switch m := elf.Machine(binary.LittleEndian.Uint16(head[18:20])); m {
	case elf.EM_AARCH64:
		return "arm64", nil
	case elf.EM_X86_64:
		return "x86_64", nil
	default:
		return "", fmt.Errorf("built for %s; Lambda runs arm64 and x86_64", m)
	}
}

// codeKey is where a package is uploaded in the code bucket.
func (p Package) codeKey() string { return "tgsync/lambda/" + p.SHA256 + ".zip" }

// codeBucketName is the bucket deploy uploads packages to unless told
// otherwise: one per account and Region, as CloudFormation needs the code
// in the stack's Region.
func codeBucketName(account, region string) string {
	return "tgsync-deploy-" + account + "-" + region
}

// upload puts the package into bucket under its key unless it is there,
// creating the bucket when it does not exist. Every call names the
// expected owner, so that a bucket of that name in another account is
// never written to.
func upload(ctx context.Context, c *s3.Client, bucket, account, region string, p Package, log func(string, ...any)) error {
	_, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket), ExpectedBucketOwner: aws.String(account)})
	switch code := httpStatus(err); {
	case err == nil:
	case code == http.StatusNotFound:
		in := &s3.CreateBucketInput{Bucket: aws.String(bucket)}
		if region != "us-east-1" {
			in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(region)}
		}
		if _, err := c.CreateBucket(ctx, in); err != nil {
			return fmt.Errorf("create the code bucket %s: %w", bucket, err)
		}
		log("created the code bucket s3://%s (new buckets block public access and encrypt with SSE-S3)", bucket)
	case code == http.StatusForbidden:
		return fmt.Errorf("the code bucket %s belongs to another account, or these credentials may not use it (s3:ListBucket); name a bucket of yours in this Region with --code-bucket", bucket)
	default:
		return fmt.Errorf("the code bucket %s: %w", bucket, err)
	}
	key := p.codeKey()
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), ExpectedBucketOwner: aws.String(account)})
	switch code := httpStatus(err); {
	case err == nil:
		log("the package is in s3://%s/%s already", bucket, key)
		return nil
	case code != http.StatusNotFound:
		return fmt.Errorf("look for the package in s3://%s/%s: %w", bucket, key, err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(p.Zip),
		ContentLength: aws.Int64(int64(len(p.Zip))), ExpectedBucketOwner: aws.String(account),
		ContentType: aws.String("application/zip"),
	}); err != nil {
		return fmt.Errorf("upload the package to s3://%s/%s: %w", bucket, key, err)
	}
	log("uploaded the package to s3://%s/%s (%.1f MB)", bucket, key, float64(len(p.Zip))/1e6)
	return nil
}

// httpStatus is the HTTP status of an AWS error, or 0.
func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		return re.Response.StatusCode
	}
	return 0
}

// apiCode is the error code of an AWS error, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
