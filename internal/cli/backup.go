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
copy of it apart from the archives, as you would a password.

An app's databases and directories are backed up by the server on the schedules of
its spec's backups: (pg_dump's custom format, or tar with zstd; to a directory or an
S3 bucket; optionally age-encrypted), and restore drills check them:

  tend backup list shop                    # archives, sizes, checksums, drills
  tend backup run shop db                  # now
  tend backup restore shop db              # the newest archive into shop's database
  tend backup verify shop db               # restore into a scratch database and check`,
	}
	cmd.AddCommand(newBackupCreateCmd(g), newBackupRestoreCmd(g), newBackupListCmd(g), newBackupRunCmd(g), newBackupVerifyCmd(g))
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
	var data, archive, to string
	var yes bool
	cmd := &cobra.Command{
		Use:   "restore (FILE --data NEWDIR | APP NAME [--id ARCHIVE] [--to URL|DIR])",
		Short: "Restore tend's state into a new data dir, or an app's database or directory",
		Long: `tend backup restore FILE --data NEWDIR makes NEWDIR (new, or empty) a data dir from an
archive of tend's state (tend backup create, or the server's daily backup), no server
needed. The archive is unpacked beside NEWDIR and checked against its manifest first:
a damaged or cut archive leaves nothing behind. The old server's instances are not in
it: tend server --data NEWDIR starts every app's current revision from the restored
artifacts, with its routes, history, incidents, silences and tokens as they were. The
data dir's API token is new (NEWDIR/token).

tend backup restore APP NAME restores the app's backup NAME (of its spec's backups)
from its newest archive, or --id ARCHIVE (tend backup list APP names them). The server
downloads the archive and checks its sha256 before anything else. A database is
restored with pg_restore --clean --single-transaction: the tables the dump has are
replaced, and a restore that fails changes nothing. --to restores into another
database (a postgres:// URL) or directory instead. A directory's old content is kept
beside it as PATH.before-restore-TIME. On a terminal it asks first; --yes does not.`,
		Example: `  tend backup restore tend-state-20261203T030000Z.tar.zst --data /var/lib/tend
  tend server --data /var/lib/tend

  tend backup restore shop db                          # the newest archive, into shop's database
  tend backup restore shop db --id shop-db-20261203T030000Z.pgdump --to postgres://localhost/shop_copy
  tend backup restore shop uploads --yes`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 1 && data != "":
				return restoreState(cmd, g, args[0], data)
			case len(args) == 2 && data == "":
				return restoreApp(cmd, g, args[0], args[1], archive, to, yes)
			case len(args) == 1:
				return &exitCodeError{code: exitInvalid, err: errors.New("an archive of tend's state restores into a new data dir: tend backup restore FILE --data NEWDIR (an app's backup: tend backup restore APP NAME)")}
			}
			return &exitCodeError{code: exitInvalid, err: errors.New("--data is for an archive of tend's state (tend backup restore FILE --data NEWDIR), not for an app's backup")}
		},
	}
	cmd.Flags().StringVar(&data, "data", "", "the data dir to make from an archive of tend's state: new, or an empty directory")
	cmd.Flags().StringVar(&archive, "id", "", "the archive to restore (default: the newest)")
	cmd.Flags().StringVar(&to, "to", "", "restore into this database (postgres:// URL) or directory instead of the backup's own")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for a confirmation on a terminal")
	addOutputFlag(cmd, g)
	return cmd
}

func restoreState(cmd *cobra.Command, g *globals, file, data string) error {
	f, err := os.Open(file)
	if err != nil {
		return &exitCodeError{code: exitInvalid, err: err}
	}
	defer f.Close()
	res, err := backup.RestoreState(cmd.Context(), f, file, data)
	if err != nil {
		var damaged *backup.DamagedError
		if errors.As(err, &damaged) {
			return &exitCodeError{code: exitInvalid, err: err}
		}
		return err
	}
	m := res.Manifest
	return render(cmd.OutOrStdout(), g.output, m, func(tw *table) {
		fmt.Fprintf(tw, "restored %s into %s in %s\n", filepath.Base(file), res.DataDir, res.Took.Round(time.Millisecond))
		fmt.Fprintf(tw, "  archived %s by tend %s: %d apps (%s), %d revisions, %d files\n", m.CreatedAt.Format(time.RFC3339), m.TendVersion,
			len(m.Apps), strings.Join(m.Apps, ", "), m.Revisions, len(m.Files))
		if res.KeyMissing {
			fmt.Fprintf(tw, "  secrets are sealed with a key that is not in the archive: copy it to %s (or start the server with --secrets-key-file)\n", res.KeyFile)
		}
		fmt.Fprintf(tw, "start it: tend server --data %s\n", res.DataDir)
	})
}

func restoreApp(cmd *cobra.Command, g *globals, app, name, archive, to string, yes bool) error {
	if !yes {
		which := "its newest archive"
		if archive != "" {
			which = archive
		}
		into := "its own database or directory, replacing what the archive has"
		if to != "" {
			into = to
		}
		ok, err := confirm(cmd, fmt.Sprintf("restore backup %s of %s from %s into %s? [y/N] ", name, app, which, into))
		if err != nil {
			return err
		}
		if !ok {
			return &exitCodeError{code: exitError, err: fmt.Errorf("backup %s of %s not restored", name, app)}
		}
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	res, err := c.RestoreBackup(cmd.Context(), v1.BackupRestore{App: app, Name: name, Archive: archive, To: to})
	if err != nil {
		return err
	}
	return render(cmd.OutOrStdout(), g.output, res, func(tw *table) {
		fmt.Fprintf(tw, "restored %s into %s in %.1fs\n", res.Archive, res.Into, res.Seconds)
		if res.Kept != "" {
			fmt.Fprintf(tw, "  what was there is kept in %s\n", res.Kept)
		}
	})
}

func newBackupVerifyCmd(g *globals) *cobra.Command {
	var archive string
	cmd := &cobra.Command{
		Use:   "verify APP NAME",
		Short: "Run a backup's restore drill now: restore it into a scratch database and check it",
		Long: `A backup with verify: in its spec is restored on its own schedule (default weekly) into a
scratch database beside the app's (CREATE DATABASE tend_verify_..., so the backup's
user needs CREATEDB), where the check query must answer at least min; the scratch
database is dropped after. This runs that drill now, on the newest archive or --id.
It exits 1 when the drill fails, and the outcome is kept for tend backup list and the
metric tend_backup_last_verify_success (alert BackupVerifyFailed).`,
		Example: `  tend backup verify shop db`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			v, err := c.VerifyBackup(cmd.Context(), v1.BackupVerifyRequest{App: args[0], Name: args[1], Archive: archive})
			if err != nil {
				return err
			}
			if err := render(cmd.OutOrStdout(), g.output, v, func(tw *table) {
				if v.OK {
					fmt.Fprintf(tw, "drill passed: %s\n", v.Message)
				} else {
					fmt.Fprintf(tw, "drill FAILED on %s: %s\n", v.Archive, v.Message)
				}
			}); err != nil {
				return err
			}
			if !v.OK {
				return &exitCodeError{code: exitError, err: fmt.Errorf("the restore drill of backup %s of %s failed", args[1], args[0])}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&archive, "id", "", "the archive to drill (default: the newest)")
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
	fmt.Fprintln(tw, "APP\tNAME\tARCHIVE\tTIME\tSIZE\tTOOK\tSHA256\tVERIFIED")
	for _, b := range list {
		app := b.App
		if app == "" {
			app = "(tend)"
		}
		for _, a := range b.Archives {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", app, b.Name, a.Name, a.Time.Local().Format("2006-01-02 15:04:05"), humanBytes(a.Size),
				(time.Duration(a.Seconds * float64(time.Second))).Round(time.Millisecond), a.SHA256[:min(12, len(a.SHA256))], orDash(a.Verified))
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
		if v := b.LastVerify; v != nil {
			outcome := "passed"
			if !v.OK {
				outcome = "FAILED: " + v.Message
			}
			state += fmt.Sprintf("; drill %s %s", v.Time.Local().Format("2006-01-02 15:04"), outcome)
		} else if b.VerifySchedule != "" {
			state += "; drill " + b.VerifySchedule + ", none yet"
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

// newBackupFilesDumpCmd is the hidden command tend server runs, as an app's user, to
// read a directory for the app's files backup: the archive goes to stdout.
func newBackupFilesDumpCmd() *cobra.Command {
	return &cobra.Command{
		Use:    backup.DumpCommand + " PATH",
		Short:  "Write a files backup's archive of PATH to stdout (tend server runs it as the app's user)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return backup.Files{Path: args[0]}.Dump(cmd.Context(), cmd.OutOrStdout())
		},
	}
}
