package elbv2fake

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	"github.com/tgsync/tgsync"
)

// targets returns n distinct targets 10.0.x.y:443 inside 10.0.0.0/16.
func targets(n int) []tgsync.Target {
	out := make([]tgsync.Target, n)
	for i := range out {
		out[i] = tgsync.Target{IP: netip.AddrFrom4([4]byte{10, 0, byte(i / 250), byte(i%250 + 1)}), Port: 443}
	}
	return out
}

func changes(ts []tgsync.Target) []tgsync.Change {
	out := make([]tgsync.Change, len(ts))
	for i, t := range ts {
		out[i] = tgsync.Change{Action: tgsync.ActionDeregister, Target: t}
	}
	return out
}

func TestBatching(t *testing.T) {
	tests := []struct {
		n, calls int
	}{{0, 0}, {1, 1}, {200, 1}, {201, 2}, {450, 3}, {1000, 5}}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			w, _ := newTestWorld(t, GroupSpec{}, Options{})
			ctx := context.Background()
			ts := targets(tc.n)
			done, usedAll, err := RegisterTargets(ctx, w, testARN, ts, false)
			if err != nil || done != tc.n || usedAll {
				t.Fatalf("Register = %d, %v, %v; want %d, false, nil", done, usedAll, err, tc.n)
			}
			if got := len(w.Targets(testARN)); got != tc.n {
				t.Errorf("group holds %d targets, want %d", got, tc.n)
			}
			n, err := Count(w.Deregister(ctx, testARN, changes(ts)))
			if err != nil || n != tc.n {
				t.Fatalf("Deregister = %d, %v; want %d, nil", n, err, tc.n)
			}
			calls := w.Calls()
			if calls[ActionRegister] != tc.calls || calls[ActionDeregister] != tc.calls {
				t.Errorf("calls %v, want %d of each change", calls, tc.calls)
			}
		})
	}
}

func TestPartialBatchFailure(t *testing.T) {
	tests := []struct {
		batch, done int
		failed      bool
	}{{1, 0, true}, {2, 200, true}, {3, 400, true}, {4, 450, false}}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("batch %d", tc.batch), func(t *testing.T) {
			w, _ := newTestWorld(t, GroupSpec{}, Options{})
			ctx := context.Background()
			ts := targets(450)
			for _, action := range []string{ActionRegister, ActionDeregister} {
				if err := w.Inject(Fault{Kind: FaultPartialBatch, Action: action, Batch: tc.batch, Times: 1}); err != nil {
					t.Fatal(err)
				}
			}
			done, _, err := RegisterTargets(ctx, w, testARN, ts, false)
			if done != tc.done || (err != nil) != tc.failed {
				t.Fatalf("Register = %d, %v; want %d, failed=%v", done, err, tc.done, tc.failed)
			}
			if tc.failed && !hasCode(err, CodeInternalFailure) {
				t.Errorf("Register error %v, want InternalFailure", err)
			}
			if got := len(w.Targets(testARN)); got != tc.done {
				t.Errorf("group holds %d targets, want the %d leading ones", got, tc.done)
			}
			// The fault was for one call: the rest registers now.
			if done, _, err := RegisterTargets(ctx, w, testARN, ts[done:], false); err != nil || done != 450-tc.done {
				t.Fatalf("second Register = %d, %v", done, err)
			}
			n, err := Count(w.Deregister(ctx, testARN, changes(ts)))
			if n != tc.done || (err != nil) != tc.failed {
				t.Fatalf("Deregister = %d, %v; want %d, failed=%v", n, err, tc.done, tc.failed)
			}
			draining := 0
			for _, o := range w.Targets(testARN) {
				if o.State == tgsync.HealthDraining {
					draining++
				}
			}
			if draining != tc.done {
				t.Errorf("%d targets draining, want %d", draining, tc.done)
			}
		})
	}
}

func TestAvailabilityZoneRule(t *testing.T) {
	vpc := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}
	outside := tgt("10.9.0.5:443")
	inside := tgt("10.0.0.5:443")
	// zones maps targets to their expected zone; "" means a detected one.
	type zones map[tgsync.Target]string
	tests := []struct {
		name      string
		spec      GroupSpec
		targets   []tgsync.Target
		azAll     bool
		wantAll   bool
		wantCalls int
		zones     zones
	}{
		{"inside the VPC", GroupSpec{VPCPrefixes: vpc}, []tgsync.Target{inside}, false, false, 1, zones{inside: ""}},
		{"outside: retried with all", GroupSpec{VPCPrefixes: vpc}, []tgsync.Target{outside}, false, true, 2, zones{outside: "all"}},
		{"outside with all at once", GroupSpec{VPCPrefixes: vpc}, []tgsync.Target{outside}, true, true, 1, zones{outside: "all"}},
		{"no VPC given: every IP is inside", GroupSpec{}, []tgsync.Target{outside}, false, false, 1, zones{outside: ""}},
		{"all for an inside IP is accepted", GroupSpec{VPCPrefixes: vpc}, []tgsync.Target{inside}, true, true, 1, zones{inside: "all"}},
		{"all refused for an inside IP: sent again without", GroupSpec{VPCPrefixes: vpc, StrictZoneOverride: true},
			[]tgsync.Target{inside}, true, false, 2, zones{inside: ""}},
		{"all refused in a mixed batch: one by one", GroupSpec{VPCPrefixes: vpc, StrictZoneOverride: true},
			[]tgsync.Target{inside, outside}, true, true, 4, zones{inside: "", outside: "all"}},
		{"second batch outside: only it is retried, later ones keep all", GroupSpec{VPCPrefixes: vpc},
			append(append(targets(200), outside), targets(250)[200:]...), false, true, 3,
			zones{targets(1)[0]: "", outside: "all", targets(250)[249]: "all"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := newTestWorld(t, tc.spec, Options{})
			done, usedAll, err := RegisterTargets(context.Background(), w, testARN, tc.targets, tc.azAll)
			if err != nil || done != len(tc.targets) || usedAll != tc.wantAll {
				t.Fatalf("Register = %d, %v, %v; want %d, %v, nil", done, usedAll, err, len(tc.targets), tc.wantAll)
			}
			if got := w.Calls()[ActionRegister]; got != tc.wantCalls {
				t.Errorf("RegisterTargets calls = %d, want %d", got, tc.wantCalls)
			}
			for _, o := range w.Targets(testARN) {
				want, ok := tc.zones[o.Target]
				if !ok {
					continue
				}
				if want != "" && o.AvailabilityZone != want || want == "" && !strings.HasPrefix(o.AvailabilityZone, "us-east-1") {
					t.Errorf("%s: zone %q, want %q", o.Target, o.AvailabilityZone, want)
				}
			}
		})
	}
}

// TestAvailabilityZoneError checks the shape of the ValidationError a
// target outside the VPC gets without a zone; Deregister shows it because
// Register retries.
func TestAvailabilityZoneError(t *testing.T) {
	w, _ := newTestWorld(t, GroupSpec{VPCPrefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}}, Options{})
	ctx := context.Background()
	outside := tgt("192.168.7.9:443")
	if _, usedAll, err := RegisterTargets(ctx, w, testARN, []tgsync.Target{outside}, false); err != nil || !usedAll {
		t.Fatalf("Register: %v, usedAZAll %v", err, usedAll)
	}
	n, err := Count(w.Deregister(ctx, testARN, []tgsync.Change{{Target: outside}}))
	if n != 0 || err == nil {
		t.Fatalf("Deregister without a zone = %d, %v; want a ValidationError", n, err)
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ValidationError" ||
		apiErr.ErrorMessage() != "The Availability Zone is required for IP address '192.168.7.9' because it is not in the VPC" {
		t.Fatalf("error %v is not AWS's ValidationError", err)
	}
	var opErr *smithy.OperationError
	var respErr *awshttp.ResponseError
	if !errors.As(err, &opErr) || opErr.Operation() != ActionDeregister || !errors.As(err, &respErr) || respErr.HTTPStatusCode() != 400 {
		t.Errorf("error %v does not have the SDK's shape", err)
	}
	wantText := "operation error Elastic Load Balancing v2: DeregisterTargets, https response error StatusCode: 400, RequestID: "
	if !strings.Contains(err.Error(), wantText) || !strings.HasSuffix(err.Error(), "api error ValidationError: "+apiErr.ErrorMessage()) {
		t.Errorf("error text %q", err)
	}
	if n, err := Count(w.Deregister(ctx, testARN, []tgsync.Change{{Target: outside, AvailabilityZone: "all"}})); n != 1 || err != nil {
		t.Errorf("Deregister with zone all = %d, %v", n, err)
	}
}

func TestRejects(t *testing.T) {
	ts := targets(1001)
	registered := ts[0]
	tests := []struct {
		name    string
		prefill int
		call    func(context.Context, *World) error
		code    string // "" means a local error before any call
	}{
		{"register an invalid IP", 1, func(ctx context.Context, w *World) error {
			_, _, err := RegisterTargets(ctx, w, testARN, []tgsync.Target{{Port: 443}}, false)
			return err
		}, ""},
		{"register beyond 1000 targets", 999, func(ctx context.Context, w *World) error {
			_, _, err := RegisterTargets(ctx, w, testARN, ts[999:], false)
			return err
		}, CodeTooManyTargets},
		{"deregister a register change", 1, func(ctx context.Context, w *World) error {
			_, err := w.Deregister(ctx, testARN, []tgsync.Change{{Action: tgsync.ActionRegister, Target: registered}})
			return err
		}, ""},
		{"deregister a target that is not registered", 1, func(ctx context.Context, w *World) error {
			_, err := w.Deregister(ctx, testARN, changes(ts[:2]))
			return err
		}, CodeInvalidTarget},
		{"deregister from another zone", 1, func(ctx context.Context, w *World) error {
			_, err := w.Deregister(ctx, testARN, []tgsync.Change{{Target: registered, AvailabilityZone: "eu-west-1a"}})
			return err
		}, CodeInvalidTarget},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := newTestWorld(t, GroupSpec{}, Options{})
			ctx := context.Background()
			if _, _, err := RegisterTargets(ctx, w, testARN, ts[:tc.prefill], false); err != nil {
				t.Fatal(err)
			}
			before := w.Calls()
			err := tc.call(ctx, w)
			var apiErr smithy.APIError
			switch {
			case err == nil:
				t.Fatal("accepted")
			case tc.code == "" && errors.As(err, &apiErr):
				t.Fatalf("error %v, want a local one", err)
			case tc.code != "" && !hasCode(err, tc.code):
				t.Fatalf("error %v, want %s", err, tc.code)
			}
			calls := 0
			for k, v := range w.Calls() {
				calls += v - before[k]
			}
			if want := map[bool]int{true: 0, false: 1}[tc.code == ""]; calls != want {
				t.Errorf("%d calls made, want %d", calls, want)
			}
			obs := w.Targets(testARN)
			if len(obs) != tc.prefill || obs[0].State != tgsync.HealthInitial {
				t.Errorf("a failed call changed the group: %d targets, first %s", len(obs), obs[0].State)
			}
		})
	}
}

func TestZoneOverrideError(t *testing.T) {
	w, _ := newTestWorld(t, GroupSpec{VPCPrefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}, StrictZoneOverride: true}, Options{})
	err := w.registerCall(context.Background(), testARN, []tgsync.Target{tgt("10.0.0.5:443")}, true, false)
	want := regexp.MustCompile(`^operation error Elastic Load Balancing v2: RegisterTargets, https response error StatusCode: 400, RequestID: [-0-9a-f]{36}, ` +
		`api error ValidationError: The IP address '10\.0\.0\.5' is within the VPC, and cannot have its Availability Zone overridden to 'all' from 'us-east-1[abc]'$`)
	if err == nil || !want.MatchString(err.Error()) {
		t.Errorf("error %v, want to match %s", err, want)
	}
}

func TestPortZeroUsesTheGroupPort(t *testing.T) {
	w, _ := newTestWorld(t, GroupSpec{Port: 8443}, Options{})
	if _, _, err := RegisterTargets(context.Background(), w, testARN, []tgsync.Target{{IP: netip.MustParseAddr("10.0.0.1")}}, false); err != nil {
		t.Fatal(err)
	}
	if o := w.Targets(testARN); len(o) != 1 || o[0].Target != tgt("10.0.0.1:8443") {
		t.Errorf("targets %v, want 10.0.0.1:8443", o)
	}
}
