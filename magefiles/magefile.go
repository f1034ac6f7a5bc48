//go:build mage

// Targets for building, testing and releasing distro. Each target is a thin wrapper
// around a tested package under release/, conformance/ or distro/.
package main

import "os"

// goToolchain is the Go release the module needs (go.mod names it; a machine starts
// with its own Go and would otherwise refuse the module).
const goToolchain = "go1.27.3"

func init() {
	if os.Getenv("GOTOOLCHAIN") == "" {
		os.Setenv("GOTOOLCHAIN", goToolchain)
	}
}
