package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/backup"
)

func newBackupCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Back up and restore tend's state, and run and list the apps' backups",
		Long: `tend's own state (every app's spec, revision history, rollout state, incidents, sealed
secrets, tokens, certificates) lives in its etcd; the executables of the revisions a
rollback may go to, in DATA/artifacts; silences, in the embedded Alertmanager. One
archive holds all of them, with a manifest of sha256 checksums as its last member:

  tend backup create                       # an archive of the running server's state
  tend backup restore FILE --data NEWDIR   # a new data dir from it, server stopped
  tend server --data NEWDIR                # apps come back on their current revisions

tend server also writes one every day to DATA/backups, keeping 7 (--state-backup-*).
Copy them off the machine: a backup on the disk it protects is gone with it.

The secrets key (DATA/secrets.key) is not in an archive unless --include-key: keep a
copy of it apart from the archives, as you would a password.`,
	}
	cmd.AddCommand(newBackupCreateCmd(g), newBackupRestoreCmd(g), newBackupListCmd(g), newBackupRunCmd(g))
	return cmd
}

func newBackupCreateCmd(g *globals) *cobra.Command {
	var out string
	var includeKey bool
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Write an archive of the server's state to a file",
		Long: `Write an archive of the running server's state: an etcd snapshot, the artifacts of every
recorded revision, what incidents' runbooks captured, the Alertmanager's silences and
notification log, and a manifest with each member's sha256 and tend's version.

The archive is written to FILE.partial, read back and checked against its manifest,
then renamed to FILE: a FILE that exists is whole. Secrets stay sealed: the key is
archived only with --include-key (then anyone with the archive can read them).`,
		Example: `  tend backup create                          # ./tend-state-20261203T120000Z.tar.zst
  tend backup create -o /mnt/backups/tend.tar.zst
  tend backup create -o - | ssh backup-host 'cat > tend.tar.zst'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if out == "-" {
				_, err := c.BackupState(cmd.Context(), cmd.OutOrStdout(), includeKey)
				return err
			}
			if out == "" {
				out = "tend-state-" + time.Now().UTC().Format("20060102T150405Z") + ".tar.zst"
			}
			if _, err := os.Stat(out); err == nil {
				return &exitCodeError{code: exitInvalid, err: fmt.Errorf("%s exists: remove it or name another file with -o", out)}
			}
			start := time.Now()
			partial := out + ".partial"
			f, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			defer os.Remove(partial)
			n, err := c.BackupState(cmd.Context(), f, includeKey)
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			m, err := checkArchive(partial)
			if err != nil {
				return err
			}
			if err := os.Rename(partial, out); err != nil {
				return err
			}
			w := cmd.ErrOrStderr()
			fmt.Fprintf(w, "wrote %s: %s in %s, checked against its manifest\n", out, humanBytes(n), time.Since(start).Round(time.Millisecond))
			fmt.Fprintf(w, "  %d apps (%s), %d revisions, %d files\n", len(m.Apps), strings.Join(m.Apps, ", "), m.Revisions, len(m.Files))
			if m.IncludesKey {
				fmt.Fprintln(w, "  warning: the secrets key is in the archive: whoever has it can read every secret; keep it as you would the key")
			} else {
				fmt.Fprintln(w, "  the secrets key is not in it: a restore needs DATA/secrets.key (or --secrets-key-file) as well")
			}
			fmt.Fprintf(w, "restore it: tend backup restore %s --data NEWDIR\n", out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "the archive's file (\"-\": stdout); default tend-state-TIME.tar.zst here")
	cmd.Flags().BoolVar(&includeKey, "include-key", false, "archive the secrets key too (whoever has the archive can then read every secret)")
	return cmd
}

// checkArchive reads the archive at path whole and checks it against its manifest.
func checkArchive(path string) (*backup.Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return backup.Check(f, path)
}

func newBackupRestoreCmd(g *globals) *cobra.Command {
	var data string
	cmd := &cobra.Command{
		Use:   "restore FILE --data NEWDIR",
		Short: "Make a new data dir from an archive of tend's state (no server needed)",
		Long: `Make NEWDIR (new, or empty) a data dir from an archive tend backup create or the server's
daily backup wrote. The archive is unpacked beside NEWDIR and checked against its
manifest first: a damaged or cut archive leaves nothing behind, and NEWDIR is only
there once the restore is whole.

The old server's instances are not in it: tend server --data NEWDIR starts every app's
current revision from the restored artifacts, with its routes, history, incidents,
silences and tokens as they were. The data dir's API token is new (NEWDIR/token).`,
		Example: `  tend backup restore tend-state-20261203T030000Z.tar.zst --data /var/lib/tend
  cp secrets.key /var/lib/tend/secrets.key     # unless the archive has it
  tend server --data /var/lib/tend`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if data == "" {
				return &exitCodeError{code: exitInvalid, err: errors.New("--data NEWDIR is required: the data dir to make (new or empty); the running server's is never overwritten")}
			}
			f, err := os.Open(args[0])
			if err != nil {
				return &exitCodeError{code: exitInvalid, err: err}
			}
			defer f.Close()
			res, err := backup.RestoreState(cmd.Context(), f, args[0], data)
			if err != nil {
				var damaged *backup.DamagedError
				if errors.As(err, &damaged) {
					return &exitCodeError{code: exitInvalid, err: err}
				}
				return err
			}
			m := res.Manifest
			return render(cmd.OutOrStdout(), g.output, m, func(tw *table) {
				fmt.Fprintf(tw, "restored %s into %s in %s\n", filepath.Base(args[0]), res.DataDir, res.Took.Round(time.Millisecond))
				fmt.Fprintf(tw, "  archived %s by tend %s: %d apps (%s), %d revisions, %d files\n", m.CreatedAt.Format(time.RFC3339), m.TendVersion,
					len(m.Apps), strings.Join(m.Apps, ", "), m.Revisions, len(m.Files))
				if res.KeyMissing {
					fmt.Fprintf(tw, "  secrets are sealed with a key that is not in the archive: copy it to %s (or start the server with --secrets-key-file)\n", res.KeyFile)
				}
				fmt.Fprintf(tw, "start it: tend server --data %s\n", res.DataDir)
			})
		},
	}
	cmd.Flags().StringVar(&data, "data", "", "the data dir to make: new, or an empty directory")
	addOutputFlag(cmd, g)
	return cmd
}

func newBackupListCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list [APP]",
		Short: "List the backups and their archives: tend's state's, and the apps'",
		Example: `  tend backup list
  tend backup list shop -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			app := ""
			if len(args) == 1 {
				app = args[0]
			}
			list, err := c.Backups(cmd.Context(), app)
			if err != nil {
				return err
			}
			return render(cmd.OutOrStdout(), g.output, list, func(tw *table) { backupTable(tw, list) })
		},
	}
	addOutputFlag(cmd, g)
	return cmd
}

func backupTable(tw *table, list []v1.Backup) {
	if len(list) == 0 {
		fmt.Fprintln(tw, "no backups: tend server --state-backup-schedule is off, and no spec has backups")
		return
	}
	fmt.Fprintln(tw, "APP\tNAME\tARCHIVE\tTIME\tSIZE\tTOOK\tSHA256")
	for _, b := range list {
		app := b.App
		if app == "" {
			app = "(tend)"
		}
		for _, a := range b.Archives {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", app, b.Name, a.Name, a.Time.Local().Format("2006-01-02 15:04:05"), humanBytes(a.Size),
				(time.Duration(a.Seconds * float64(time.Second))).Round(time.Millisecond), a.SHA256[:min(12, len(a.SHA256))])
		}
		state := fmt.Sprintf("%s %s: %s to %s", app, b.Name, orNone(b.Schedule), b.Target)
		if !b.Next.IsZero() {
			state += ", next " + b.Next.Local().Format("2006-01-02 15:04")
		}
		if b.LastError != "" {
			state += "; last run FAILED: " + b.LastError
		}
		if len(b.Archives) == 0 {
			state += "; no archive yet"
		}
		fmt.Fprintf(tw, "# %s\n", state)
	}
}

func orNone(s string) string {
	if s == "" {
		return "on demand"
	}
	return s
}

func newBackupRunCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run [APP NAME]",
		Short: "Run a backup now: tend's state's, or an app's backup NAME",
		Example: `  tend backup run              # tend's state, into its backup dir
  tend backup run shop db`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 && len(args) != 2 {
				return fmt.Errorf("want no argument (tend's state) or APP NAME, got %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			app, name := "", "state"
			if len(args) == 2 {
				app, name = args[0], args[1]
			}
			a, err := c.RunBackup(cmd.Context(), app, name)
			if err != nil {
				return err
			}
			return render(cmd.OutOrStdout(), g.output, a, func(tw *table) {
				fmt.Fprintf(tw, "wrote %s: %s in %.1fs, sha256 %s\n", a.Name, humanBytes(a.Size), a.Seconds, a.SHA256)
			})
		},
	}
	addOutputFlag(cmd, g)
	return cmd
}
