package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/secret"
	"github.com/tendhq/tend/internal/spec"
)

func newSecretCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret",
		Short: "Keep an app's secrets: set, list, remove, and rotate the key that seals them",
		Long: `Secrets are values an app's instances get in their environment (a database password,
an API key) without them being in tend.yaml, in git, in the store in plain text, or in
any answer of the API. A spec names them:

  env:
    DATABASE_URL: {secret: db-url}     # the variable DATABASE_URL holds secret db-url
  secrets: [API_KEY]                   # the variable API_KEY holds secret API_KEY

Each set makes a new version. A revision records the versions it was deployed with, so
a rollback gives instances the values they had. Setting a secret restarts nothing:
the next tend deploy (or set --restart) rolls the new version out as a new revision,
with the app's strategy.

The server seals values with XChaCha20-Poly1305 under DATA/secrets.key (0600, made on
the first set) or the key of tend server --secrets-key-file.`,
	}
	cmd.AddCommand(newSecretSetCmd(g), newSecretListCmd(g), newSecretRmCmd(g), newSecretRotateCmd(g), newSecretKeygenCmd())
	return cmd
}

func newSecretSetCmd(g *globals) *cobra.Command {
	var fromFile string
	var restart bool
	cmd := &cobra.Command{
		Use:   "set APP NAME",
		Short: "Set a secret from stdin (or a file): never from the command line",
		Long: `Set a new version of secret NAME of APP. The value is read from stdin, never from
the command line, where ps and the shell's history would keep it: typed at a prompt
(not echoed), or piped, in which case one trailing newline is dropped. --from-file
takes a file's bytes exactly.

The app need not be deployed yet: set its secrets, then deploy.`,
		Example: `  tend secret set shop db-url                       # prompts for the value
  printf %s "$DATABASE_URL" | tend secret set shop db-url
  tend secret set shop tls-key --from-file key.pem --restart`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			app, name := args[0], args[1]
			if err := specSecretName(name); err != nil {
				return err
			}
			value, err := readSecret(cmd, name, fromFile)
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			res, err := c.SetSecret(cmd.Context(), app, name, value)
			if err != nil {
				return err
			}
			if !restart {
				return render(cmd.OutOrStdout(), g.output, res, func(tw *table) {
					fmt.Fprintf(tw, "secret %s of %s is at v%d; tend deploy (or set --restart) rolls it out\n", name, app, res.Version)
				})
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "secret %s of %s is at v%d; deploying %s again\n", name, app, res.Version, app)
			act, err := c.Action(cmd.Context(), app, "redeploy", v1.ActionRequest{})
			if err != nil {
				return fmt.Errorf("secret %s is set (v%d), but the redeploy failed: %w; run tend deploy", name, res.Version, err)
			}
			return render(cmd.OutOrStdout(), g.output, res, func(tw *table) {
				fmt.Fprintf(tw, "secret %s of %s is at v%d; %s\n", name, app, res.Version, act.Message)
			})
		},
	}
	cmd.Flags().StringVar(&fromFile, "from-file", "", "read the value from this file, exactly as it is")
	cmd.Flags().BoolVar(&restart, "restart", false, "make a new revision of what serves with the new version and roll it out (nothing is built)")
	addOutputFlag(cmd, g)
	return cmd
}

// specSecretName checks a name before a value is asked for.
func specSecretName(name string) error {
	if err := spec.CheckSecretName(name); err != nil {
		return &exitCodeError{code: exitInvalid, err: err}
	}
	return nil
}

// readSecret reads a secret's value: a file's bytes, a prompt on a terminal, or stdin
// without its one trailing newline.
func readSecret(cmd *cobra.Command, name, fromFile string) ([]byte, error) {
	if fromFile != "" {
		b, err := os.ReadFile(fromFile)
		if err != nil {
			return nil, &exitCodeError{code: exitInvalid, err: fmt.Errorf("read --from-file: %w", err)}
		}
		return b, nil
	}
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(cmd.ErrOrStderr(), "value of %s (not shown): ", name)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return nil, fmt.Errorf("read the value: %w", err)
		}
		if len(b) == 0 {
			return nil, &exitCodeError{code: exitInvalid, err: fmt.Errorf("an empty value for %s: nothing was set", name)}
		}
		return b, nil
	}
	// the largest value, its newline, and one byte more to tell a longer one
	b, err := io.ReadAll(io.LimitReader(in, secret.MaxSize+3))
	if err != nil {
		return nil, fmt.Errorf("read the value from stdin: %w", err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) > secret.MaxSize {
		return nil, &exitCodeError{code: exitInvalid, err: fmt.Errorf("the value of %s is over %d bytes, the limit: nothing was set", name, secret.MaxSize)}
	}
	if len(b) == 0 {
		return nil, &exitCodeError{code: exitInvalid, err: fmt.Errorf("stdin gave an empty value for %s: pipe the value in (printf %%s \"$VALUE\" | tend secret set APP %s) or use --from-file", name, name)}
	}
	return b, nil
}

func newSecretListCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list APP",
		Aliases: []string{"ls"},
		Short:   "List an app's secrets: names, versions and the revisions that use them, never values",
		Example: `  tend secret list shop
  tend secret list shop -o json | jq -r '.[].name'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			list, err := c.Secrets(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return render(cmd.OutOrStdout(), g.output, list, func(tw *table) {
				fmt.Fprintln(tw, "NAME\tVERSION\tSIZE\tUPDATED\tUSED BY")
				for _, s := range list {
					var used []string
					for _, u := range s.UsedBy {
						mark := ""
						if u.Running {
							mark = " (running)"
						}
						used = append(used, "revision "+strconv.Itoa(u.Revision)+" v"+strconv.Itoa(u.Version)+mark)
					}
					if len(used) == 0 {
						used = []string{"-"}
					}
					fmt.Fprintf(tw, "%s\tv%d\t%d B\t%s\t%s\n", s.Name, s.Version, s.Size, s.UpdatedAt.Local().Format(time.DateTime), strings.Join(used, ", "))
				}
				if len(list) == 0 {
					fmt.Fprintf(tw, "(no secrets: tend secret set %s NAME)\n", args[0])
				}
			})
		},
	}
	addOutputFlag(cmd, g)
	return cmd
}

func newSecretRmCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "rm APP NAME",
		Aliases: []string{"remove"},
		Short:   "Remove every version of a secret (refused while a running revision uses it)",
		Example: `  tend secret rm shop old-api-key`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if err := c.RemoveSecret(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "secret %s of %s removed\n", args[1], args[0])
			return nil
		},
	}
}

func newSecretRotateCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rotate-key",
		Short: "Seal every stored secret again with a new key",
		Long: `Make a new sealing key, seal every stored version of every secret with it, and make it
the key of DATA/secrets.key. Values do not change and nothing restarts. An interrupted
rotation is finished by running it again; until then both keys open the values.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			res, err := c.RotateSecretsKey(cmd.Context())
			if err != nil {
				return err
			}
			return render(cmd.OutOrStdout(), g.output, res, func(tw *table) {
				fmt.Fprintf(tw, "%d secret versions sealed again with the new key in %s\n", res.Resealed, res.Key)
			})
		},
	}
	addOutputFlag(cmd, g)
	return cmd
}

func newSecretKeygenCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "keygen FILE",
		Short: "Write a new sealing key to FILE (0600), for tend server --secrets-key-file",
		Long: `Write a new random sealing key to FILE, readable by its owner only, for a server started
with --secrets-key-file FILE (a key kept apart from the data dir, like on a mounted
secrets volume). An existing file is never overwritten. Without --secrets-key-file the
server makes DATA/secrets.key itself.`,
		Example: `  tend secret keygen /etc/tend/secrets.key && tend server --secrets-key-file /etc/tend/secrets.key`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := secret.NewKeyFile(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote a new secrets key to %s\n", args[0])
			return nil
		},
	}
}
