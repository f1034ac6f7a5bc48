// Package multicall dispatches the distro binary to one of the programs linked into it.
package multicall

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/distro-io/distro/distro/version"
)

// Program is one entry point linked into the binary.
type Program struct {
	// Name is both the subcommand (`distro NAME …`) and the argv[0] basename that selects it.
	Name string
	// Usage is a one-line description for the command list.
	Usage string
	// Hidden programs are for the binary's own use (re-exec'd children) and not listed.
	Hidden bool
	// Run receives the program's own argv: args[0] is Name.
	Run func(args []string) int
}

var programs = map[string]Program{}

// Register adds a program; names must be unique.
func Register(p Program) {
	if _, dup := programs[p.Name]; dup {
		panic("multicall: program registered twice: " + p.Name)
	}
	programs[p.Name] = p
}

// Main runs the program named by argv[0] or, for the distro binary itself, by args[1].
func Main(args []string) int {
	if len(args) == 0 {
		args = []string{version.Program}
	}
	if p, ok := programs[filepath.Base(args[0])]; ok {
		return p.Run(append([]string{p.Name}, args[1:]...))
	}
	if len(args) < 2 {
		usage(os.Stderr)
		return 1
	}
	switch args[1] {
	case "--version", "-v", "version":
		printVersion()
		return 0
	case "--help", "-h", "help":
		usage(os.Stdout)
		return 0
	}
	p, ok := programs[args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "%s: unknown command %q\n\n", version.Program, args[1])
		usage(os.Stderr)
		return 1
	}
	return p.Run(append([]string{p.Name}, args[2:]...))
}

func printVersion() {
	fmt.Printf("%s version %s (%s)\n", version.Program, version.Version, version.GitCommit)
	fmt.Printf("kubernetes %s\n", version.UpstreamVersion)
}

func usage(w *os.File) {
	fmt.Fprintf(w, "Usage: %s COMMAND [ARGS...]\n\nCommands:\n", version.Program)
	names := make([]string, 0, len(programs))
	for name, p := range programs {
		if !p.Hidden {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-26s %s\n", name, programs[name].Usage)
	}
	fmt.Fprintf(w, "\n  %-26s %s\n", "--version", "print the version")
	fmt.Fprintf(w, "\nEvery command also runs when the binary is started under its name (%s).\n",
		strings.Join([]string{"kubectl", "ctr", "containerd"}, ", "))
}
