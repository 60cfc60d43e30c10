package tgsync

// Internals the external tests need.

// ContainsTarget reports whether cs changes t.
var ContainsTarget = containsTarget

// Record adds events to the binding's history, as a run does.
func (b *BindingState) Record(events ...Event) { b.record(events...) }
