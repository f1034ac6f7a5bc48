// Command distro is the multicall binary: the server, the agent and every upstream tool
// a node needs, chosen by the first argument or by the name the binary was started as.
package main

import (
	"os"

	"github.com/distro-io/distro/distro/multicall"
)

func main() {
	os.Exit(multicall.Main(os.Args))
}
