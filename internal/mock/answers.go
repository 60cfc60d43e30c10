package mock

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/tgsync/tgsync"
)

// answerTTL is the TTL of every answer of Answers and Fixed: a DNS name
// whose records live a minute.
const answerTTL = time.Minute

// Answers is a source whose answers the test sets as it goes: the
// addresses of Set, one answer per Resolve from a Script (the last one
// repeated), or the error of Fail. Each answer has a TTL of a minute and
// took one query. It is safe for concurrent use.
type Answers struct {
	name string

	mu     sync.Mutex
	script [][]netip.Addr
	err    error
	calls  int
}

var _ tgsync.Source = (*Answers)(nil)

// NewAnswers returns a source named name that answers addrs.
func NewAnswers(name string, addrs ...string) *Answers {
	a := &Answers{name: name}
	a.Set(addrs...)
	return a
}

// Set makes every later Resolve answer addrs.
func (a *Answers) Set(addrs ...string) { a.Script(addrs) }

// Script makes the next Resolves answer each of answers in turn, and the
// ones after them the last again.
func (a *Answers) Script(answers ...[]string) {
	script := make([][]netip.Addr, 0, max(len(answers), 1))
	for _, ss := range answers {
		script = append(script, Addrs(ss...))
	}
	if len(script) == 0 {
		script = append(script, nil)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.script, a.err, a.calls = script, nil, 0
}

// Fail makes every later Resolve fail with err, until Set or Script.
func (a *Answers) Fail(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.err = err
}

// Resolve gives the current answer, or the error of Fail.
func (a *Answers) Resolve(context.Context) (tgsync.Answer, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return tgsync.Answer{}, a.err
	}
	addrs := a.script[min(a.calls, len(a.script)-1)]
	a.calls++
	return tgsync.Answer{Addrs: slices.Clone(addrs), TTL: answerTTL, Queries: 1}, nil
}

// String is the name the source was made with.
func (a *Answers) String() string { return a.name }

// Fixed returns a source named name that answers addrs every time, with
// a TTL of a minute, in one query: a DNS name whose records do not change
// during the test, without a network.
func Fixed(name string, addrs ...string) *Source {
	parsed := Addrs(addrs...)
	return &Source{Name: name, ResolveFn: func(context.Context) (tgsync.Answer, error) {
		return tgsync.Answer{Addrs: slices.Clone(parsed), TTL: answerTTL, Queries: 1}, nil
	}}
}

// Addrs reads addresses a test wrote; a typo is the test's bug.
func Addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// Target reads a target ip:port a test wrote; a typo is the test's bug.
func Target(s string) tgsync.Target {
	t, err := tgsync.ParseTarget(s)
	if err != nil {
		panic(err)
	}
	return t
}
