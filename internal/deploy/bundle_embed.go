//go:build tgsync_bundle

package deploy

import _ "embed" // the Lambda package

//go:embed lambda/tgsync-arm64.zip
var bundled []byte

// Bundled returns the Lambda package this binary carries.
func Bundled() ([]byte, bool) { return bundled, true }
