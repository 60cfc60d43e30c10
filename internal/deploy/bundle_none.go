//go:build !tgsync_bundle

package deploy

// Bundled returns the Lambda package this binary carries: none, in a
// build that make release did not make.
func Bundled() ([]byte, bool) { return nil, false }
