package elbv2fake

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"syscall"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// ServiceID is the name aws-sdk-go-v2 gives the elbv2 service in its
// operation errors.
const ServiceID = elb.ServiceID

// The AWS action names, as Calls counts them and faults select them.
const (
	ActionDescribe       = "DescribeTargetHealth"
	ActionDescribeGroups = "DescribeTargetGroups"
	ActionRegister       = "RegisterTargets"
	ActionDeregister     = "DeregisterTargets"
)

// The error codes the world returns, as AWS spells them.
const (
	CodeThrottling          = "Throttling"
	CodeInternalFailure     = "InternalFailure"
	CodeServiceUnavailable  = "ServiceUnavailable"
	CodeValidation          = "ValidationError"
	CodeTargetGroupNotFound = "TargetGroupNotFound"
	CodeTooManyTargets      = "TooManyTargets"
	CodeInvalidTarget       = "InvalidTarget"
)

// azRequiredMessage is what RegisterTargets says for an IP address outside
// the target group's VPC registered without an Availability Zone. The SDK's
// API model does not carry error messages; this wording is the one AWS
// returned in 2022 and 2024 as quoted in
// github.com/aws-samples/hostname-as-target-for-elastic-load-balancer
// issue 6 and github.com/kubernetes-sigs/aws-load-balancer-controller issue
// 3714. An older wording, quoted in aws-load-balancer-controller issue 3084
// (2023), was "You must specify a valid Availability Zone or select 'all'
// for all enabled Availability zones, since the IP address '%s' is outside
// the VPC". Both are a ValidationError that mentions "Availability Zone",
// which is what a caller should match.
const azRequiredMessage = "The Availability Zone is required for IP address '%s' because it is not in the VPC"

// azOverrideMessage is what AWS said when AvailabilityZone "all" was given
// for an IP address inside the VPC (aws-load-balancer-controller issue 561):
// the address, the zone given, the zone AWS detected.
const azOverrideMessage = "The IP address '%s' is within the VPC, and cannot have its Availability Zone overridden to '%s' from '%s'"

// The ValidationErrors for input the adapter never sends. AWS's wording of
// them is not on record; these say the same in the style of the others.
const (
	azInvalidMessage   = "The Availability Zone '%s' is not enabled for the target group"
	ipInvalidMessage   = "The IP address '%s' is not a valid IPv4 or IPv6 address"
	portInvalidMessage = "The port %d is not between 1 and 65535"
)

// apiError wraps an API error the way aws-sdk-go-v2 hands it to a caller:
// an OperationError around an HTTP ResponseError around the API error, so
// that errors.As finds smithy.APIError, the typed elbv2 exception and the
// HTTP status code, and Error() reads like the SDK's.
func (w *World) apiError(action string, status int, apiErr smithy.APIError) error {
	return &smithy.OperationError{
		ServiceID:     ServiceID,
		OperationName: action,
		Err: &awshttp.ResponseError{
			ResponseError: &smithyhttp.ResponseError{
				Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
				Err:      apiErr,
			},
			RequestID: w.requestID(),
		},
	}
}

// requestID returns a fresh, deterministic, UUID-shaped request id.
func (w *World) requestID() string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012x", w.requests.Add(1))
}

func (w *World) throttling(action string) error {
	return w.apiError(action, http.StatusBadRequest,
		&smithy.GenericAPIError{Code: CodeThrottling, Message: "Rate exceeded", Fault: smithy.FaultClient})
}

func (w *World) internalFailure(action string) error {
	return w.apiError(action, http.StatusInternalServerError, &smithy.GenericAPIError{
		Code: CodeInternalFailure, Fault: smithy.FaultServer,
		Message: "The request processing has failed because of an unknown error, exception or failure.",
	})
}

func (w *World) serviceUnavailable(action string) error {
	return w.apiError(action, http.StatusServiceUnavailable, &smithy.GenericAPIError{
		Code: CodeServiceUnavailable, Fault: smithy.FaultServer,
		Message: "The request has failed due to a temporary failure of the server.",
	})
}

func (w *World) validation(action, message string) error {
	return w.apiError(action, http.StatusBadRequest,
		&smithy.GenericAPIError{Code: CodeValidation, Message: message, Fault: smithy.FaultClient})
}

func (w *World) notFound(action string) error {
	msg := "One or more target groups not found"
	return w.apiError(action, http.StatusBadRequest, &types.TargetGroupNotFoundException{Message: &msg})
}

func (w *World) tooManyTargets(action string) error {
	msg := "You've reached the limit on the number of targets."
	return w.apiError(action, http.StatusBadRequest, &types.TooManyTargetsException{Message: &msg})
}

func (w *World) invalidTarget(action string) error {
	msg := "The specified target does not exist, is not in the same VPC as the target group, or has an unsupported instance type."
	return w.apiError(action, http.StatusBadRequest, &types.InvalidTargetException{Message: &msg})
}

// canceled is what the SDK returns when the context ends while a request
// is in flight.
func canceled(ctx context.Context, action string) error {
	return &smithy.OperationError{ServiceID: ServiceID, OperationName: action,
		Err: &smithy.CanceledError{Err: ctx.Err()}}
}

// endpoint is the documentation address the reset connection claims to
// have been talking to; it is data only and never dialled.
var endpoint = net.TCPAddrFromAddrPort(netip.MustParseAddrPort("192.0.2.10:443"))

// connReset is what the SDK returns when the peer resets the connection:
// a RequestSendError around net/http's url.Error around a net.OpError
// around ECONNRESET, so errors.Is(err, syscall.ECONNRESET) holds and the
// SDK's retryer would count it as a retryable connection error.
func connReset(action string) error {
	return &smithy.OperationError{ServiceID: ServiceID, OperationName: action,
		Err: &smithyhttp.RequestSendError{Err: &url.Error{
			Op:  "Post",
			URL: "https://elasticloadbalancing.us-east-1.amazonaws.com/",
			Err: &net.OpError{Op: "read", Net: "tcp", Addr: endpoint,
				Err: os.NewSyscallError("read", syscall.ECONNRESET)},
		}},
	}
}
