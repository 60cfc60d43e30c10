package tgsync

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
)

// This file holds what a binding with more than one source needs: the
// united answer of a DNS name and network interfaces, how they agree, the
// plan of an answer some of whose sources failed, and the calls sources of
// one run share.

// Union returns a source that asks dns and interfaces at once and unites
// their answers: the binding holds what either shows, and a target is
// missed only when both answered and neither holds it (rule 2). When one
// fails, the answer is the other's with Partial set, so that what it
// shows is registered and nothing is removed (rule 1); when both fail, the
// union fails. Either may be nil, and then the other is returned as it is.
func Union(dns, interfaces Source) Source {
	switch {
	case dns == nil:
		return interfaces
	case interfaces == nil:
		return dns
	}
	return union{dns: dns, interfaces: interfaces}
}

type union struct{ dns, interfaces Source }

func (u union) String() string { return u.dns.String() + " + " + u.interfaces.String() }

func (u union) Resolve(ctx context.Context) (Answer, error) {
	type result struct {
		a   Answer
		err error
	}
	ifc := make(chan result, 1)
	go func() {
		a, err := u.interfaces.Resolve(ctx)
		ifc <- result{a, err}
	}()
	d, dErr := u.dns.Resolve(ctx)
	i := <-ifc
	switch {
	case dErr != nil && i.err != nil:
		return Answer{Queries: d.Queries}, errors.Join(fmt.Errorf("%s: %w", u.dns, dErr), fmt.Errorf("%s: %w", u.interfaces, i.err))
	case dErr != nil:
		i.a.Queries += d.Queries
		i.a.Partial = fmt.Errorf("%s failed: %w", u.dns, dErr)
		return i.a, nil
	case i.err != nil:
		d.Partial = fmt.Errorf("%s failed: %w", u.interfaces, i.err)
		return d, nil
	}
	out := Answer{Addrs: uniqueAddrs(slices.Concat(d.Addrs, i.a.Addrs)), TTL: d.TTL, Queries: d.Queries + i.a.Queries,
		Interfaces: i.a.Interfaces, Agreement: agree(d.Addrs, i.a.Addrs)}
	if out.TTL == 0 || (i.a.TTL > 0 && i.a.TTL < out.TTL) {
		out.TTL = i.a.TTL
	}
	return out, nil
}

// Agreement is how a DNS answer and the addresses of the network
// interfaces behind it compare in one observation. DNS shows a subset of
// the nodes when it caps its answers (Route 53 returns at most 8 records),
// so a share below 1 is normal there; an address in DNS that no interface
// holds is not: a stale record, or a DNS name and interfaces that are not
// the same endpoint.
type Agreement struct {
	// DNSOnly are the addresses DNS gave that no interface holds.
	DNSOnly []netip.Addr
	// Interfaces counts the interface addresses, and SeenByDNS how many
	// of them DNS gave.
	Interfaces int
	SeenByDNS  int
}

// Share is the part of the interface addresses DNS showed, from 0 to 1;
// 1 when there are none.
func (a Agreement) Share() float64 {
	if a.Interfaces == 0 {
		return 1
	}
	return float64(a.SeenByDNS) / float64(a.Interfaces)
}

func agree(dns, interfaces []netip.Addr) *Agreement {
	d, i := uniqueAddrs(dns), uniqueAddrs(interfaces)
	out := &Agreement{Interfaces: len(i)}
	for _, a := range d {
		if _, found := slices.BinarySearchFunc(i, a, netip.Addr.Compare); found {
			out.SeenByDNS++
		} else {
			out.DNSOnly = append(out.DNSOnly, a)
		}
	}
	return out
}

// keepOnPartial finishes the plan of an answer some of whose sources
// failed: what the others showed is registered (Plan did that), but
// nothing is known of the rest, so no miss is counted, none is forgotten
// but those of targets the answer holds, and every target stays owned
// (rule 1).
func keepOnPartial(out *Decision, desired Desired, state BindingState) {
	out.Refused = append(out.Refused, Refusal{Action: ActionDeregister, Rule: RuleSourceFailed,
		Reason: fmt.Sprintf("%v; registering what the other sources of %s show, removing nothing and counting no misses", desired.Answer.Partial, desired.Source)})
	want := make(map[Target]bool, len(out.Desired))
	for _, t := range out.Desired {
		want[t] = true
	}
	out.Next.Misses = map[Target]Miss{}
	for t, m := range state.Misses {
		if !want[t] {
			out.Next.Misses[t] = m
		}
	}
	if out.Next.Owned != nil {
		for t, at := range state.Owned {
			if _, ok := out.Next.Owned[t]; !ok {
				out.Next.Owned[t] = at
			}
		}
	}
}

// claimedAddrs are the addresses a binding that answered in this run
// claims for its group (rule 9): its answer, and, while some of its
// sources fail, its last full answer too, so that a target only the failed
// source showed stays claimed.
func claimedAddrs(a Answer, stored *SourceAnswer) []netip.Addr {
	if a.Partial == nil || stored == nil {
		return a.Addrs
	}
	return slices.Concat(a.Addrs, stored.Addrs)
}

// recordInterfaces keeps which interface each address came from, and
// reports whether that changes what is kept: when it does not, kept itself
// is returned, so that a run whose interfaces did not move copies nothing.
// An answer some of whose sources failed adds its interfaces to those
// kept, so that a later event about one of them still finds the binding.
func recordInterfaces(kept, got map[netip.Addr]string, partial bool) (map[netip.Addr]string, bool) {
	if !partial {
		switch {
		case maps.Equal(kept, got):
			return kept, false
		case len(got) == 0:
			return nil, true
		}
		return maps.Clone(got), true
	}
	if !addsTo(kept, got) {
		return kept, false
	}
	out := maps.Clone(kept)
	if out == nil {
		out = map[netip.Addr]string{}
	}
	maps.Copy(out, got)
	return out, true
}

// addsTo reports whether got holds an address kept does not, or holds
// with another interface.
func addsTo(kept, got map[netip.Addr]string) bool {
	for a, id := range got {
		if k, ok := kept[a]; !ok || k != id {
			return true
		}
	}
	return false
}

// BindingsWithInterface names, sorted, the bindings whose kept answer
// holds an address of the network interface id: the bindings an event
// about that interface concerns.
func (s *State) BindingsWithInterface(id string) []string {
	var out []string
	for name, bs := range s.Bindings {
		if bs == nil || bs.Answer == nil || !bs.RemovedAt.IsZero() {
			continue
		}
		for _, v := range bs.Answer.Interfaces {
			if v == id {
				out = append(out, name)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// sharedKey carries the calls the sources of one run share.
type sharedKey struct{}

// sharedCalls are the results of one run's shared calls, by key.
type sharedCalls struct {
	mu    sync.Mutex
	calls map[string]*sharedCall
}

type sharedCall struct {
	done chan struct{}
	v    any
	err  error
}

// withSharedCalls gives a run's sources a place to share calls.
func withSharedCalls(ctx context.Context) context.Context {
	return context.WithValue(ctx, sharedKey{}, &sharedCalls{calls: map[string]*sharedCall{}})
}

// Shared returns the result of f for key, calling f at most once per run:
// the sources of bindings that ask the same question in one run (the same
// interface filters) share one call, made with the context of the first
// to ask. A later run asks again. Outside a run, f is called every time.
func Shared[T any](ctx context.Context, key string, f func(context.Context) (T, error)) (T, error) {
	s, ok := ctx.Value(sharedKey{}).(*sharedCalls)
	if !ok {
		return f(ctx)
	}
	s.mu.Lock()
	c, found := s.calls[key]
	if !found {
		c = &sharedCall{done: make(chan struct{})}
		s.calls[key] = c
	}
	s.mu.Unlock()
	if !found {
		v, err := f(ctx)
		c.v, c.err = v, err
		close(c.done)
	}
	var zero T
	select {
	case <-c.done:
	case <-ctx.Done():
		return zero, ctx.Err()
	}
	if c.err != nil {
		return zero, c.err
	}
	v, _ := c.v.(T)
	return v, nil
}
