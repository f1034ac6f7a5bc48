package multicall

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/distro-io/distro/distro/pki"
	"github.com/distro-io/distro/distro/server/encryption"
	"github.com/distro-io/distro/distro/version"
)

func init() {
	Register(Program{Name: "secrets-encrypt", Usage: "show or rotate the key Secrets are encrypted with at rest", Run: runSecretsEncrypt})
}

// serverClient is a client of the local apiserver with the admin identity the server keeps in
// <data-dir>/server/cred.
func serverClient(dataDir string) (*kubernetes.Clientset, error) {
	path := pki.NewLayout(dataDir).Kubeconfig(pki.Admin)
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("admin kubeconfig %s: %w", path, err)
	}
	cfg.Timeout = 30 * time.Second
	return kubernetes.NewForConfig(cfg)
}

func newSecretsEncryptCommand() *cobra.Command {
	var dataDir string
	root := &cobra.Command{
		Use:   version.Program + " secrets-encrypt",
		Short: "Show or rotate the encryption of Secrets at rest",
		Long: "Secrets are encrypted in the datastore with a secretbox key kept in\n" +
			"<data-dir>/server/cred/encryption-config.json. The apiserver reloads that file\n" +
			"within a minute of a change.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	addDataDirFlag(root.PersistentFlags(), &dataDir)

	status := &cobra.Command{
		Use:   "status",
		Short: "Print the active key and whether Secrets are encrypted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := encryption.ReadStatus(encryption.File(dataDir))
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			encrypted := "no (new Secrets are stored in plaintext)"
			if st.Encrypted {
				encrypted = "yes"
			}
			fmt.Fprintf(out, "Encryption of Secrets: %s\n", encrypted)
			fmt.Fprintf(out, "Active key: %s (type %s)\n", orNone(st.ActiveKey()), st.Provider)
			fmt.Fprintf(out, "Keys: %s\n", strings.Join(st.Keys, ", "))
			if len(st.Keys) > 1 {
				fmt.Fprintf(out, "Rotation: unfinished; run `%s secrets-encrypt rotate` to finish it\n", version.Program)
			}
			fmt.Fprintf(out, "Configuration: %s (%s)\n", st.File, st.Hash)
			fmt.Fprintf(out, "Apiserver: %s\n", apiserverState(cmd.Context(), dataDir, st.Hash))
			return nil
		},
	}

	var timeout time.Duration
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Encrypt every Secret with a new key and drop the old one (resumable)",
		Long: "rotate needs the server running. It adds a new key first in the configuration\n" +
			"(old keys stay for reading), waits for the apiserver to load it, rewrites every\n" +
			"Secret so it is stored with the new key, then drops the old keys and waits again.\n" +
			"An interrupted rotation leaves several keys in the file; run rotate again to finish it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := serverClient(dataDir)
			if err != nil {
				return err
			}
			r := &encryption.Rotation{
				File:          encryption.File(dataDir),
				Client:        client,
				ReloadTimeout: timeout,
				Progress: func(format string, args ...any) {
					fmt.Fprintf(cmd.OutOrStdout(), format+"\n", args...)
				},
			}
			name, err := r.Run(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Secrets are encrypted with %s\n", name)
			return nil
		},
	}
	rotate.Flags().DurationVar(&timeout, "reload-timeout", 3*time.Minute, "how long to wait each time for the apiserver to load the changed file")
	root.AddCommand(status, rotate)
	return root
}

func apiserverState(ctx context.Context, dataDir, hash string) string {
	client, err := serverClient(dataDir)
	if err != nil {
		return "unknown: " + err.Error()
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	loaded, err := encryption.Loaded(ctx, client.Discovery().RESTClient(), hash)
	switch {
	case err != nil:
		return "not reachable: " + err.Error()
	case loaded:
		return "runs this configuration"
	}
	return "has not loaded this configuration yet (it re-reads the file every minute)"
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

func runSecretsEncrypt(args []string) int {
	cmd := newSecretsEncryptCommand()
	cmd.SetArgs(args[1:])
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "%s secrets-encrypt: %v\n", version.Program, err)
		return 1
	}
	return 0
}
