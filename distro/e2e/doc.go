// Package e2e holds the tests that run the built distro binary. They need DISTRO_BINARY
// (set by `go tool mage test` to dist/distro) and are skipped without it, so a plain
// `go test ./...` stays fast.
package e2e
