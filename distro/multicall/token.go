package multicall

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/distro-io/distro/distro/config"
	"github.com/distro-io/distro/distro/pki"
	"github.com/distro-io/distro/distro/token"
	"github.com/distro-io/distro/distro/version"
)

func init() {
	Register(Program{Name: "token", Usage: "create, list and delete join tokens for agents", Run: runToken})
}

// addDataDirFlag registers --data-dir on a command that works on a server's files. Its default
// follows DISTRO_DATA_DIR like the server's own flag.
func addDataDirFlag(fs *pflag.FlagSet, dataDir *string) {
	def := version.DataDir
	if v := os.Getenv(config.EnvName("data-dir")); v != "" {
		def = v
	}
	fs.StringVarP(dataDir, "data-dir", "d", def, "the server's data directory (env "+config.EnvName("data-dir")+")")
}

// serverCAHash is the hash join tokens pin: that of the server CA the server generated.
func serverCAHash(dataDir string) (string, error) {
	path := pki.NewLayout(dataDir).CertFile(pki.ServerCA)
	bundle, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no server CA at %s: start %s server with --data-dir %s first", path, version.Program, dataDir)
	}
	if err != nil {
		return "", err
	}
	return token.HashCA(bundle), nil
}

func newTokenCommand() *cobra.Command {
	var dataDir string
	root := &cobra.Command{
		Use:   version.Program + " token",
		Short: "Manage join tokens: extra, revocable tokens agents join with",
		Long: "Join tokens live in <data-dir>/server/join-tokens.json on the server, next to the\n" +
			"server's own token and node-token. The running server checks the file on every join,\n" +
			"so a created token works and a deleted one is refused at once. Join tokens let\n" +
			"agents join only, never servers.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	addDataDirFlag(root.PersistentFlags(), &dataDir)
	store := func() *token.FileStore { return token.NewFileStore(token.JoinTokensFile(dataDir)) }

	var ttl time.Duration
	var description string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a join token and print it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			hash, err := serverCAHash(dataDir)
			if err != nil {
				return err
			}
			j, err := token.NewJoinToken(description, ttl, time.Now())
			if err != nil {
				return err
			}
			if err := store().Create(cmd.Context(), j); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), j.Token(hash))
			return nil
		},
	}
	create.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token works; 0 means forever")
	create.Flags().StringVar(&description, "description", "", "what the token is for, shown by list")

	list := &cobra.Command{
		Use:   "list",
		Short: "List join tokens with their expiry",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			hash, err := serverCAHash(dataDir)
			if err != nil {
				return err
			}
			tokens, err := store().List(cmd.Context())
			if err != nil {
				return err
			}
			return token.WriteTable(cmd.OutOrStdout(), tokens, hash, time.Now())
		},
	}

	del := &cobra.Command{
		Use:   "delete ID|TOKEN...",
		Short: "Delete join tokens, by ID or by the whole token",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var errs []error
			for _, a := range args {
				id := a
				if t, err := token.Parse(a); err == nil && t.JoinID != "" {
					id = t.JoinID
				}
				if err := store().Delete(cmd.Context(), id); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted join token %s\n", id)
			}
			return errors.Join(errs...)
		},
	}
	root.AddCommand(create, list, del)
	return root
}

func runToken(args []string) int {
	cmd := newTokenCommand()
	cmd.SetArgs(args[1:])
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "%s token: %v\n", version.Program, err)
		return 1
	}
	return 0
}
