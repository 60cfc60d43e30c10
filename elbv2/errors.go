package elbv2

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// mapError turns an AWS error into one that says what to fix. The original
// stays wrapped, so errors.As still finds the smithy.APIError and the
// SDK's typed exceptions.
func (a *Adapter) mapError(op, action, arn string, err error) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return fmt.Errorf("%s: %w", op, err)
	}
	prefix := a.bindingPrefix(arn)
	code := ae.ErrorCode()
	switch {
	case code == "TargetGroupNotFound":
		return fmt.Errorf("%starget group %s not found: check targetGroupArn and the region (AWS_REGION): "+
			"the group was deleted, the ARN has a typo, or the credentials are for another account; "+
			"'aws elbv2 describe-target-groups --names NAME' prints the ARN of a group: %w", prefix, arn, err)
	case code == "InvalidTarget" && action == "DeregisterTargets":
		return fmt.Errorf("%s%s: AWS refused a target as invalid: it is not registered on that port, or its Availability Zone differs from the one it was registered with: describe the group again: %w", prefix, op, err)
	case code == "InvalidTarget":
		return fmt.Errorf("%s%s: AWS refused a target as invalid: check that every IP is reachable from the target group's VPC (its subnets, a peered VPC or on premises), is not the load balancer's own, and that ports are 1-65535: %w", prefix, op, err)
	case code == "TooManyTargets":
		return fmt.Errorf("%s%s: the target group would exceed its quota of targets (1,000 per target group by default): raise the quota in Service Quotas or split the source across target groups: %w", prefix, op, err)
	case code == "TooManyRegistrationsForTargetId":
		return fmt.Errorf("%s%s: an IP is registered with too many target groups or ports (quota per target ID): %w", prefix, op, err)
	case (code == "AccessDenied" || code == "AccessDeniedException" || code == "UnauthorizedOperation") && strings.HasPrefix(action, "Describe"):
		// Describe actions take no resource-level permissions.
		return fmt.Errorf("%s%s: access denied: the IAM policy of the caller must allow elasticloadbalancing:%s on Resource \"*\" (describe actions cannot be scoped to %s): %w", prefix, op, action, arn, err)
	case code == "AccessDenied" || code == "AccessDeniedException" || code == "UnauthorizedOperation":
		return fmt.Errorf("%s%s: access denied: the IAM policy of the caller must allow elasticloadbalancing:%s on %s: %w", prefix, op, action, arn, err)
	case code == "InvalidClientTokenId" || code == "UnrecognizedClientException" || code == "ExpiredToken" || code == "ExpiredTokenException" || code == "SignatureDoesNotMatch":
		return fmt.Errorf("%s%s: the AWS credentials are invalid or expired: %w", prefix, op, err)
	case isThrottle(code):
		return fmt.Errorf("%s%s: rate exceeded even after retries; lower the rate limits or spread the schedule: %w", prefix, op, err)
	case code == "ValidationError":
		return fmt.Errorf("%s%s: AWS rejected the request: %w", prefix, op, err)
	default:
		return fmt.Errorf("%s%s: %w", prefix, op, err)
	}
}

func isThrottle(code string) bool {
	_, ok := retry.DefaultThrottleErrorCodes[code]
	return ok
}

// validation returns the lower-cased message of a ValidationError.
func validation(err error) (string, bool) {
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationError" {
		return "", false
	}
	return strings.ToLower(ae.ErrorMessage()), true
}

// azRequired reports whether RegisterTargets refused a target for want of an
// Availability Zone because its IP is outside the VPC. AWS has worded this
// in more than one way, e.g.
//
//	The Availability Zone is required for IP address '10.4.40.87' because it is not in the VPC
//	You must specify a valid Availability Zone or select 'all' for all enabled Availability zones, since the IP address '10.130.6.97' is outside the VPC
//
// so the match is on the code and the gist, not the sentence.
func azRequired(err error) bool {
	msg, ok := validation(err)
	if !ok || !strings.Contains(msg, "availability zone") || strings.Contains(msg, "is within the vpc") {
		return false
	}
	return strings.Contains(msg, "outside the vpc") || strings.Contains(msg, "outside of the vpc") ||
		strings.Contains(msg, "not in the vpc") || strings.Contains(msg, "not within the vpc")
}

// azAllRefused reports whether RegisterTargets refused "all" for an IP
// inside the VPC:
//
//	The IP address '10.104.128.17' is within the VPC, and cannot have its Availability Zone overridden to 'all' from 'eu-central-1b'
func azAllRefused(err error) bool {
	msg, ok := validation(err)
	return ok && strings.Contains(msg, "availability zone") && strings.Contains(msg, "is within the vpc")
}
