package status

// Internals the external tests check.
var (
	PendingText = pendingText
	Esc         = esc
)

// ShownEvents is how many events the page shows unfolded.
const ShownEvents = shownEvents
