package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/eni"
)

// This file is the Lambda's route for the CloudTrail events of network
// interfaces: the services behind the bindings (ELB, OpenSearch) create
// and delete their nodes' interfaces through their service-linked roles,
// CloudTrail records the calls, and EventBridge delivers them. An event
// reconciles, at once, only the bindings the interface belongs to; the
// schedule stays the backstop for an event that is late, lost or arrives
// before the interface is in use.

func isInterfaceEvent(ev event) bool {
	return ev.source == eni.EventSource && ev.detailType == eni.EventDetailType
}

// settleOptions bound the wait for a created interface to come into use:
// CloudTrail records the creation, whose response says "pending", before
// the service attaches the interface, and only an attached (in-use)
// interface's addresses are registered.
type settleOptions struct {
	// budget is the longest wait; the invocation's deadline may cut it.
	budget time.Duration
	// first is the first pause, doubled after each look up to most.
	first, most time.Duration
	// wait pauses for d; tests replace it to go without sleeping.
	wait func(ctx context.Context, d time.Duration) error
}

var defaultSettle = settleOptions{budget: 20 * time.Second, first: time.Second, most: 4 * time.Second, wait: sleep}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// interfaceOutcome is the response to an interface event.
type interfaceOutcome struct {
	Call      string `json:"call,omitempty"`
	Interface string `json:"interface,omitempty"`
	// Ignored says why the event called for nothing.
	Ignored string `json:"ignored,omitempty"`
	// Bindings are those the interface belongs to, which were reconciled.
	Bindings []string `json:"bindings"`
	// Waited is how long the function waited for the interface to come
	// into use; Settled says what ended the wait.
	Waited  string `json:"waited,omitempty"`
	Settled string `json:"settled,omitempty"`
	Run     any    `json:"run,omitempty"`
}

func (f *lambdaFunc) serveInterfaceEvent(ctx context.Context, ev event) (any, error) {
	if len(f.interfaces) == 0 {
		return nil, badEvent("a network interface event arrived (CloudTrail via EventBridge), but no binding reads network interfaces: add a loadBalancer, openSearch or networkInterfaces source, or remove the EventBridge rule that sends these events here")
	}
	e, err := eni.ParseEvent(ev.raw)
	if err != nil {
		var ie *eni.InputError
		if errors.As(err, &ie) {
			return nil, badEvent("network interface event: %v", err)
		}
		return nil, err
	}
	out := interfaceOutcome{Call: e.Call, Interface: e.InterfaceID, Ignored: e.Ignored, Bindings: []string{}}
	log := f.log.With("call", e.Call, "interface", e.InterfaceID, "eventId", e.ID)
	if e.Ignored != "" {
		log.Debug("interface event ignored", "why", e.Ignored)
		return out, nil
	}
	switch e.Call {
	case eni.CreateNetworkInterface:
		out.Bindings = f.concernedBy(*e.Interface)
	case eni.DeleteNetworkInterface:
		// Only the state knows which binding a deleted interface served.
		st, _, err := f.reconciler.Store.Load(ctx)
		if err != nil {
			return nil, withType(errRunFailed, fmt.Errorf("interface event: load state: %w", err))
		}
		out.Bindings = f.configured(st.BindingsWithInterface(e.InterfaceID))
	}
	if len(out.Bindings) == 0 {
		out.Ignored = "the interface belongs to no binding"
		log.Debug("interface event concerns no binding")
		return out, nil
	}
	log.Info("interface event", "bindings", out.Bindings)
	req := runRequest{trigger: e.Call, only: out.Bindings}
	res, summary, err := f.reconcileResult(ctx, req)
	out.Run = summary
	if err != nil || e.Call != eni.CreateNetworkInterface || answered(res, e.InterfaceID) {
		return out, err
	}
	waited, why := f.settleInterface(ctx, e.InterfaceID)
	out.Waited, out.Settled = waited.Round(time.Millisecond).String(), why
	log.Info("interface settled", "waited", waited, "settled", why)
	if why != settledInUse {
		return out, nil
	}
	_, out.Run, err = f.reconcileResult(ctx, req)
	return out, err
}

// concernedBy names the bindings whose interface source an interface, as
// an event describes it, may belong to: from the config alone, so that an
// event of another interface costs no AWS call at all.
func (f *lambdaFunc) concernedBy(ifc eni.Interface) []string {
	var out []string
	for _, name := range f.bindingNames() {
		if src := f.interfaces[name]; src != nil && src.Concerns(ifc) {
			out = append(out, name)
		}
	}
	return out
}

// configured keeps the names of configured bindings, in config order.
func (f *lambdaFunc) configured(names []string) []string {
	out := []string{}
	for _, n := range f.bindingNames() {
		if slices.Contains(names, n) {
			out = append(out, n)
		}
	}
	return out
}

// answered reports whether a run's answers hold an address of the
// interface id.
func answered(res tgsync.RunResult, id string) bool {
	for _, b := range res.Bindings {
		for _, v := range b.Answer.Interfaces {
			if v == id {
				return true
			}
		}
	}
	return false
}

// What ended the wait for a created interface.
const (
	settledInUse   = "in use"
	settledGone    = "deleted before it came into use"
	settledTimeout = "not in use within the wait; the next scheduled run registers it"
	settledFailed  = "could not be looked up; the next scheduled run registers it"
)

// settleInterface waits for a created interface to come into use, looking
// it up after pauses that double, within the budget and half the time the
// invocation has left. It costs one DescribeNetworkInterfaces per look,
// and no ELB call.
func (f *lambdaFunc) settleInterface(ctx context.Context, id string) (time.Duration, string) {
	o := f.settle
	budget := o.budget
	if d, ok := ctx.Deadline(); ok {
		budget = min(budget, time.Until(d)/2)
	}
	var waited time.Duration
	for pause := o.first; waited+pause <= budget; pause = min(2*pause, o.most) {
		if err := o.wait(ctx, pause); err != nil {
			return waited, settledFailed
		}
		waited += pause
		found, err := f.lister.List(ctx, eni.Filters{"network-interface-id": {id}})
		switch {
		case err != nil:
			f.log.Warn("interface lookup failed", "interface", id, "error", err.Error())
			return waited, settledFailed
		case len(found) == 0:
			return waited, settledGone
		case found[0].Status == eni.StatusInUse:
			return waited, settledInUse
		}
	}
	return waited, settledTimeout
}

// logInterfaces is the attribute of a run's interface sources for the
// ready line.
func logInterfaces(ifs map[string]*eni.Source) slog.Attr {
	names := make([]string, 0, len(ifs))
	for n, s := range ifs {
		names = append(names, n+": "+s.String())
	}
	slices.Sort(names)
	return slog.Any("interfaceSources", names)
}
