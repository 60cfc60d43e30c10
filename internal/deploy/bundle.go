package deploy

// A release binary carries the arm64 Lambda package of its own version, so
// that tgsync deploy needs nothing else: make release copies
// dist/tgsync-arm64.zip to lambda/tgsync-arm64.zip here and builds the CLI
// with -tags tgsync_bundle (bundle_embed.go). Any other build carries none
// (bundle_none.go), and deploy takes a package from --package. arm64 only:
// it is the cheaper architecture, and a second zip would add 4 MB to every
// binary; --package takes tgsync_<version>_lambda_amd64.zip for x86_64.

// BundledName is the name of the carried package in messages.
const BundledName = "tgsync-arm64.zip"
