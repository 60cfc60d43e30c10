package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/ecsevent"
	"github.com/tgsync/tgsync/elbv2"
	"github.com/tgsync/tgsync/eni"
	"github.com/tgsync/tgsync/internal/obs"
	"github.com/tgsync/tgsync/internal/shard"
)

// Error types of invocation errors, as Lambda records them in errorType.
const (
	errBadEvent       = "BadEvent"       // the event is not one tgsync takes: do not retry
	errBindingsFailed = "BindingsFailed" // a binding failed or did not finish
	errRunFailed      = "RunFailed"      // state could not be loaded or saved
	errDrainFailed    = "DrainFailed"    // an AWS call of a Spot drain failed
	errPanic          = "Panic"
)

// typedError is an init or invocation error with the errorType Lambda
// records for it.
type typedError struct {
	typ string
	err error
}

func (e *typedError) Error() string { return e.err.Error() }
func (e *typedError) Unwrap() error { return e.err }

// withType gives err the errorType typ.
func withType(typ string, err error) error { return &typedError{typ: typ, err: err} }

// errorType is err's errorType, or def when it has none.
func errorType(err error, def string) string {
	var te *typedError
	if errors.As(err, &te) {
		return te.typ
	}
	return def
}

func badEvent(format string, args ...any) error {
	return withType(errBadEvent, fmt.Errorf(format, args...))
}

// lambdaFunc is the Lambda function, built once per execution environment
// at init and serving every invocation. It holds nothing an invocation
// changes, so that concurrent invocations are safe.
type lambdaFunc struct {
	// reconciler is shared by concurrent invocations, each passing its
	// own RunOptions.
	reconciler *tgsync.Reconciler
	log        *slog.Logger
	// metrics receives the EMF lines of every reconcile; nil writes none.
	metrics io.Writer
	emf     obs.EMFOptions
	calls   *elbv2.Calls // may be nil
	// shards are the deployment's shards; nil runs reconciler alone.
	shards *shardSet
	// ecs handles ECS Task State Change events; nil when the config has
	// no spotDrain section.
	ecs func(ctx context.Context, raw json.RawMessage) (any, error)
	// alb answers Application Load Balancer requests (the status page);
	// nil until the function serves one.
	alb func(ctx context.Context, raw json.RawMessage) (any, error)
	// interfaces are the bindings' network-interface sources, by binding,
	// which the CloudTrail events of interfaces are matched against;
	// lister looks a created interface up while it settles.
	interfaces map[string]*eni.Source
	lister     *eni.Lister
	settle     settleOptions
}

var _ interface {
	Invoke(context.Context, []byte) ([]byte, error)
} = (*lambdaFunc)(nil)

// Invoke is the handler aws-lambda-go calls. A panic is turned into an
// error response here, with its stack in the log, so that one bad event
// does not end the execution environment.
func (f *lambdaFunc) Invoke(ctx context.Context, payload []byte) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			f.log.LogAttrs(ctx, slog.LevelError, "panic", slog.String("panic", fmt.Sprint(p)),
				slog.String("event", describeEvent(inspect(payload))), slog.String("stack", string(debug.Stack())))
			out, err = nil, lambdaError(withType(errPanic, fmt.Errorf("tgsync panicked handling %s: %v", describeEvent(inspect(payload)), p)))
		}
	}()
	res, err := f.dispatch(ctx, payload)
	if err != nil {
		return nil, lambdaError(err)
	}
	out, err = json.Marshal(res)
	if err != nil {
		return nil, lambdaError(fmt.Errorf("encode response: %w", err))
	}
	return out, nil
}

// lambdaError gives an error the errorType Lambda reports for it.
func lambdaError(err error) error {
	return messages.InvokeResponse_Error{Message: err.Error(), Type: errorType(err, "Error")}
}

// event is what dispatch knows about an event before routing it.
type event struct {
	raw []byte
	// kind is "object", or what else the JSON is: "array", "string",
	// "number", "boolean", "null", "" for what is not JSON.
	kind       string
	keys       []string // top-level keys, sorted
	source     string
	detailType string
	action     string
	hasAction  bool
	elb        bool // requestContext.elb is present: an ALB request
}

// inspect reads the few fields that route an event.
func inspect(raw []byte) event {
	ev := event{raw: raw}
	trimmed := bytes.TrimSpace(raw)
	var top map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &top); err != nil || top == nil {
		var v any
		if json.Unmarshal(trimmed, &v) == nil {
			switch v.(type) {
			case []any:
				ev.kind = "array"
			case string:
				ev.kind = "string"
			case float64:
				ev.kind = "number"
			case bool:
				ev.kind = "boolean"
			case nil:
				ev.kind = "null"
			}
		}
		return ev
	}
	ev.kind = "object"
	ev.keys = slices.Sorted(maps.Keys(top))
	str := func(k string) string {
		var s string
		_ = json.Unmarshal(top[k], &s)
		return s
	}
	ev.source, ev.detailType = str("source"), str("detail-type")
	// encoding/json matches keys in any case, so "Action" is an action
	// too: it must not let a scheduled event through as a reconcile.
	ev.hasAction = slices.ContainsFunc(ev.keys, func(k string) bool { return strings.EqualFold(k, "action") })
	_ = json.Unmarshal(top["action"], &ev.action)
	var rc struct {
		ELB json.RawMessage `json:"elb"`
	}
	if json.Unmarshal(top["requestContext"], &rc) == nil && len(rc.ELB) > 0 {
		ev.elb = true
	}
	return ev
}

// route is one kind of event the function takes. Routes are tried in
// order; the first whose match accepts the event serves it.
type route struct {
	name  string
	match func(ev event) bool
	serve func(f *lambdaFunc, ctx context.Context, ev event) (any, error)
}

// routes are the events the function takes. A new kind of event is a new
// entry here. An action key comes first, whatever else the event holds: a
// scheduled event with "action":"plan" added (by an input transformer, or
// by hand) is a plan, which never changes anything, and one with an
// unknown action is refused rather than run as a reconcile.
var routes = []route{
	{"action", func(ev event) bool { return ev.hasAction }, (*lambdaFunc).serveAction},
	{"scheduled", isScheduled, (*lambdaFunc).serveScheduled},
	{"ecs", isECSTaskStateChange, (*lambdaFunc).serveECS},
	{"interface", isInterfaceEvent, (*lambdaFunc).serveInterfaceEvent},
	{"alb", func(ev event) bool { return ev.elb }, (*lambdaFunc).serveALB},
}

func isScheduled(ev event) bool {
	return ev.source == "aws.events" && ev.detailType == "Scheduled Event"
}

func isECSTaskStateChange(ev event) bool {
	return ev.source == ecsevent.Source && ev.detailType == ecsevent.DetailTypeTaskStateChange
}

// dispatch routes one event: {"action": ...} events reconcile or plan as
// they say, scheduled events without an action reconcile, ECS Task State
// Change events drain Spot tasks, CloudTrail events of network interfaces
// reconcile the bindings the interface belongs to, ALB requests get the
// status page; anything else is an error that says what arrived.
func (f *lambdaFunc) dispatch(ctx context.Context, raw json.RawMessage) (any, error) {
	ev := inspect(raw)
	if ev.kind != "object" {
		return nil, badEvent("tgsync takes a JSON object event, got %s", describeEvent(ev))
	}
	for _, r := range routes {
		if r.match(ev) {
			return r.serve(f, ctx, ev)
		}
	}
	if len(ev.keys) == 0 {
		return nil, badEvent(`tgsync got an empty event {}: give the schedule the input {"action":"reconcile"} (EventBridge Scheduler), or use an EventBridge rule's scheduled event`)
	}
	return nil, badEvent(`tgsync does not take this event: got %s; want a scheduled event, {"action":"reconcile"|"plan","bindings":[...]}, an ECS Task State Change, or a CloudTrail event of a network interface`, describeEvent(ev))
}

func (f *lambdaFunc) serveScheduled(ctx context.Context, _ event) (any, error) {
	return f.reconcile(ctx, runRequest{trigger: "scheduled"})
}

// actionEvent is the event a person or a schedule's input sends.
type actionEvent struct {
	Action   string   `json:"action"`
	Bindings []string `json:"bindings"`
	// Shard is "K/N": run shard K of the deployment's N.
	Shard string `json:"shard"`
}

// scheduledAction is an action event that also has the fields of an
// EventBridge scheduled event, which it ignores.
type scheduledAction struct {
	actionEvent
	ecsevent.Envelope
}

// serveAction runs the action an event names: "reconcile", or "plan",
// which changes nothing, of one shard or of all. Any field but action,
// bindings and shard is refused, except the fields of a scheduled event
// when the event has that shape.
func (f *lambdaFunc) serveAction(ctx context.Context, ev event) (any, error) {
	for _, k := range ev.keys {
		for _, field := range [...]string{"action", "bindings", "shard"} {
			if k != field && strings.EqualFold(k, field) {
				return nil, badEvent(`action event %s: key %q must be written %q`, clipEvent(ev.raw), clip(k, 40), field)
			}
		}
	}
	var a actionEvent
	var err error
	if isScheduled(ev) {
		var sa scheduledAction
		err = decodeStrict(ev.raw, &sa)
		a = sa.actionEvent
	} else {
		err = decodeStrict(ev.raw, &a)
	}
	if err != nil {
		return nil, badEvent(`action event %s: %v; want {"action":"reconcile"|"plan","bindings":["name",...],"shard":"K/N"}`, clipEvent(ev.raw), clip(err.Error(), 200))
	}
	req := runRequest{trigger: a.Action}
	switch a.Action {
	case "reconcile":
	case "plan":
		req.dryRun = true
	default:
		return nil, badEvent(`unknown action %q: want "reconcile" or "plan"`, clip(a.Action, 40))
	}
	if a.Shard != "" {
		k, err := f.shardOf(a.Shard)
		if err != nil {
			return nil, withType(errBadEvent, err)
		}
		req.shard = k
	}
	known := f.bindingNames()
	for _, name := range a.Bindings {
		if !slices.Contains(known, name) {
			return nil, badEvent("unknown binding %q: this function has %s", clip(name, 80), strings.Join(known, ", "))
		}
		if k := f.bindingShard(name); req.shard > 0 && k != req.shard {
			return nil, badEvent("binding %q is in shard %d/%d, not %s", clip(name, 80), k, f.shards.n, a.Shard)
		}
		if !slices.Contains(req.only, name) {
			req.only = append(req.only, name)
		}
	}
	return f.reconcile(ctx, req)
}

// shardOf reads an event's "K/N", whose N must be the deployment's; "1/1"
// is the whole of an unsharded one, 0.
func (f *lambdaFunc) shardOf(s string) (int, error) {
	sp, err := shard.Parse(s)
	if err != nil {
		return 0, err
	}
	n := 1
	if f.shards != nil {
		n = f.shards.n
	}
	if sp.N != n {
		return 0, fmt.Errorf("shard %s: this function runs %d shard(s) (%s=%d); a schedule that names another number is left over from another deployment", sp, n, envShards, n)
	}
	if n == 1 {
		return 0, nil
	}
	return sp.K, nil
}

// bindingShard is the shard that runs a binding, 1 without shards.
func (f *lambdaFunc) bindingShard(name string) int {
	if f.shards == nil {
		return 1
	}
	for _, b := range f.reconciler.Bindings {
		if b.Name == name {
			return f.shards.of(b)
		}
	}
	return 0
}

// decodeStrict decodes JSON into v, refusing fields v does not have.
func decodeStrict(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func (f *lambdaFunc) serveECS(ctx context.Context, ev event) (any, error) {
	if f.ecs == nil {
		return nil, badEvent("an ECS Task State Change arrived, but the config has no spotDrain section: add one, or remove the EventBridge rule that sends these events here")
	}
	out, err := f.ecs(ctx, ev.raw)
	if err != nil {
		if badECSEvent(err) {
			return nil, withType(errBadEvent, err)
		}
		return nil, withType(errDrainFailed, err)
	}
	return out, nil
}

func (f *lambdaFunc) serveALB(ctx context.Context, ev event) (any, error) {
	if f.alb == nil {
		return nil, badEvent("an Application Load Balancer request arrived (%s), but this function does not serve the status page", describeEvent(ev))
	}
	return f.alb(ctx, ev.raw)
}

// bindingNames lists the configured bindings in order.
func (f *lambdaFunc) bindingNames() []string {
	names := make([]string, len(f.reconciler.Bindings))
	for i, b := range f.reconciler.Bindings {
		names[i] = b.Name
	}
	return names
}

// describeEvent says what an event is in a line: its source and
// detail-type, else its top-level keys, else its JSON kind; values are
// clipped so that a large event cannot flood an error message.
func describeEvent(ev event) string {
	switch {
	case ev.kind == "":
		return "something that is not JSON: " + clipEvent(ev.raw)
	case ev.kind != "object":
		return "a JSON " + ev.kind + ": " + clipEvent(ev.raw)
	case ev.source != "" || ev.detailType != "":
		return fmt.Sprintf("an event with source %q and detail-type %q", clip(ev.source, 80), clip(ev.detailType, 80))
	case ev.elb:
		return "an Application Load Balancer request"
	}
	const maxKeys = 12
	keys := make([]string, 0, maxKeys)
	for i, k := range ev.keys {
		if i == maxKeys {
			keys = append(keys, fmt.Sprintf("… %d more", len(ev.keys)-maxKeys))
			break
		}
		keys = append(keys, strconv.Quote(clip(k, 40)))
	}
	return "an object with keys [" + strings.Join(keys, ", ") + "]"
}

// clipEvent quotes the start of a raw event.
func clipEvent(raw []byte) string {
	return strconv.Quote(clip(string(bytes.TrimSpace(raw)), 120))
}

// clip shortens s to at most n bytes, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
