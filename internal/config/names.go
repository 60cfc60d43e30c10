package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

var (
	bindingName   = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,64}$`)
	regionName    = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	accountID     = regexp.MustCompile(`^[0-9]{12}$`)
	tgName        = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,30}[a-zA-Z0-9])?$`)
	tgID          = regexp.MustCompile(`^[0-9a-f]{16}$`)
	clusterName   = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,255}$`)
	dnsLabel      = regexp.MustCompile(`^[a-zA-Z0-9_]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_])?$`)
	bucketChars   = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	stopCodeChars = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)
)

// maxBindingName is the longest binding name bindingName allows.
const maxBindingName = 64

// ShortBindingName makes a name of letters, digits, '.', '_' and '-' fit a
// binding name: a name of up to 64 characters is returned as it is, a
// longer one becomes its first 55 characters, '-' and the first 8 hex
// digits of its SHA-256 (64 characters). The result is the same for the
// same name, so that a binding named after a CloudFormation stack (up to
// 128 characters) keeps its state from one cold start, and one release, to
// the next, and it differs for names that differ only after the cut.
func ShortBindingName(name string) string {
	if len(name) <= maxBindingName {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return name[:maxBindingName-9] + "-" + hex.EncodeToString(sum[:4])
}

// checkBindingName says what is wrong with a binding name, or "".
func checkBindingName(s string) string {
	switch {
	case s == "":
		return "is required"
	case !bindingName.MatchString(s):
		return "must be 1 to 64 letters, digits, '.', '_' or '-'"
	}
	return ""
}

// arn is the part of an Amazon Resource Name tgsync checks.
type arn struct {
	Partition, Service, Region, Account, Resource string
}

// parseARN splits an ARN and checks the fields every ARN tgsync accepts
// must have: a commercial, China or GovCloud partition, a Region of that
// partition and a 12-digit account.
func parseARN(s string) (arn, string) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return arn{}, "must be an ARN (arn:aws:...)"
	}
	a := arn{Partition: parts[1], Service: parts[2], Region: parts[3], Account: parts[4], Resource: parts[5]}
	switch a.Partition {
	case "aws", "aws-cn", "aws-us-gov":
	default:
		return a, "ARN partition must be aws, aws-cn or aws-us-gov"
	}
	if !regionName.MatchString(a.Region) {
		return a, "ARN Region must be a Region name such as us-east-1"
	}
	cn, gov := strings.HasPrefix(a.Region, "cn-"), strings.HasPrefix(a.Region, "us-gov-")
	if (a.Partition == "aws-cn") != cn || (a.Partition == "aws-us-gov") != gov {
		return a, fmt.Sprintf("ARN Region is not in partition %s: aws-cn Regions start with cn-, aws-us-gov Regions with us-gov-", a.Partition)
	}
	if !accountID.MatchString(a.Account) {
		return a, "ARN account must be 12 digits"
	}
	return a, ""
}

// checkTargetGroupARN says what is wrong with a target group ARN, or "".
func checkTargetGroupARN(s string) string {
	if s == "" {
		return "is required"
	}
	a, msg := parseARN(s)
	if msg != "" {
		return msg
	}
	if a.Service != "elasticloadbalancing" {
		return "must be an elasticloadbalancing target group ARN, got another service's"
	}
	parts := strings.Split(a.Resource, "/")
	if len(parts) != 3 || parts[0] != "targetgroup" {
		return "must end in targetgroup/<name>/<id>"
	}
	if !tgName.MatchString(parts[1]) {
		return "target group name must be 1 to 32 letters, digits or hyphens, not starting or ending with a hyphen"
	}
	if !tgID.MatchString(parts[2]) {
		return "target group id must be 16 hex digits"
	}
	if a.Account == sampleAccount && slices.Contains(sampleTargetGroups, a.Resource) {
		return "is the example's sample ARN, which no account has: put the ARN of your target group (type ip) here; " +
			"'aws elbv2 describe-target-groups --names NAME' prints it"
	}
	return ""
}

// sampleAccount is the account of AWS's documentation examples, which the
// example config and the README use; sampleTargetGroups are the target
// groups they name. A config that still holds one cannot work, in any
// partition or Region, so it is refused before it sends anyone looking
// for a Region mismatch or a missing target group.
const sampleAccount = "111122223333"

var sampleTargetGroups = []string{"targetgroup/os-dash/4ab4dba084c2bb5c", "targetgroup/logstash/73e2d6bc24d8a067"}

// checkLoadBalancerARN says what is wrong with an ALB or NLB ARN, or "".
func checkLoadBalancerARN(s string) string {
	a, msg := parseARN(s)
	if msg != "" {
		return msg
	}
	parts := strings.Split(a.Resource, "/")
	if a.Service != "elasticloadbalancing" || len(parts) != 4 || parts[0] != "loadbalancer" || (parts[1] != "app" && parts[1] != "net") {
		return "must be a load balancer ARN (arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/app/<name>/<id>)"
	}
	return ""
}

// checkClusterARN says what is wrong with an ECS cluster ARN, or "".
func checkClusterARN(s string) string {
	a, msg := parseARN(s)
	if msg != "" {
		return msg
	}
	name, ok := strings.CutPrefix(a.Resource, "cluster/")
	if a.Service != "ecs" || !ok {
		return "must be an ECS cluster ARN (arn:aws:ecs:<region>:<account>:cluster/<name>)"
	}
	if !clusterName.MatchString(name) {
		return "cluster name must be 1 to 255 letters, digits, hyphens or underscores"
	}
	return ""
}

// checkDNSName says what is wrong with a host name to resolve, or "".
// Underscores are allowed because they occur in real internal names.
func checkDNSName(s string) string {
	if s == "" {
		return "is required"
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return "is an IP address; a dns source needs a name to resolve"
	}
	name := strings.TrimSuffix(s, ".")
	if len(name) > 253 {
		return fmt.Sprintf("DNS name is %d characters, more than 253", len(name))
	}
	for _, label := range strings.Split(name, ".") {
		if !dnsLabel.MatchString(label) {
			return "is not a valid DNS name (labels of 1 to 63 letters, digits, '-' or '_', not starting or ending with '-')"
		}
	}
	return ""
}

// checkBucket says what is wrong with an S3 general purpose bucket name,
// or "".
func checkBucket(b string) string {
	bad := func(why string) string { return "bucket name " + why }
	switch {
	case b == "":
		return "bucket name is missing: write s3://bucket/prefix/"
	case len(b) < 3 || len(b) > 63:
		return bad("must be 3 to 63 characters long")
	case !bucketChars.MatchString(b):
		return bad("must use lowercase letters, digits, '.' and '-', and start and end with a letter or digit")
	case strings.Contains(b, ".."):
		return bad("must not contain two dots in a row")
	}
	if _, err := netip.ParseAddr(b); err == nil {
		return bad("must not look like an IP address")
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(b, p) {
			return bad("must not start with " + p)
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(b, s) {
			return bad("must not end with " + s)
		}
	}
	return ""
}

// checkStopCode says what is wrong with an ECS stop code, or "".
func checkStopCode(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case !stopCodeChars.MatchString(s):
		return "must be a stop code such as SpotInterruption (letters, digits, '_', '.', ':' or '-')"
	}
	return ""
}

// parseS3URL splits s3://bucket/prefix. The prefix gets a trailing slash
// so that a store can append its object name.
func parseS3URL(s string) (S3Location, string) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return S3Location{}, "must be an s3://bucket/prefix/ URL"
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	if strings.HasPrefix(prefix, "/") || strings.Contains(prefix, "//") {
		return S3Location{}, "prefix must not contain empty path segments (// or a leading /)"
	}
	if strings.ContainsAny(rest, "?#") {
		return S3Location{}, "must be a plain s3://bucket/prefix/ URL without '?' or '#'"
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return S3Location{Bucket: bucket, Prefix: prefix}, ""
}
