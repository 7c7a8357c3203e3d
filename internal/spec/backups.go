package spec

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"filippo.io/age"
	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"
)

// Backup is one of the app's backups, run by tend on its schedule: a PostgreSQL
// database (pg_dump's custom format) or a directory of files (tar, zstd), kept in a
// local directory or an S3-compatible bucket.
type Backup struct {
	Name     string          `json:"name"`
	Postgres *PostgresBackup `json:"postgres,omitempty"`
	Files    *FilesBackup    `json:"files,omitempty"`
	// Schedule is a cron schedule (five fields, or @daily, @every 6h).
	Schedule string       `json:"schedule"`
	Retain   BackupRetain `json:"retain"`
	// Verify, for a database, is the restore drill: the newest archive restored into a
	// scratch database on its own schedule, where Query must return at least Min.
	Verify *BackupVerify `json:"verify,omitempty"`
	To     BackupTarget  `json:"to"`
	// Encrypt, when set, encrypts each archive to age recipients.
	Encrypt *BackupEncrypt `json:"encrypt,omitempty"`
}

// PostgresBackup is the database to dump: its URL, or the secret that holds it.
type PostgresBackup struct {
	URL       string `json:"url,omitempty"`
	URLSecret string `json:"urlSecret,omitempty"`
}

// FilesBackup is a directory on the server's disk.
type FilesBackup struct {
	Path string `json:"path"`
}

// BackupRetain is how many archives are kept: the newest Last, and the newest of each
// of the last Daily days, Weekly weeks and Monthly months.
type BackupRetain struct {
	Last    int `json:"last,omitempty"`
	Daily   int `json:"daily,omitempty"`
	Weekly  int `json:"weekly,omitempty"`
	Monthly int `json:"monthly,omitempty"`
}

// BackupVerify is a restore drill: Query's first column of its first row must be at
// least Min in the restored copy.
type BackupVerify struct {
	Query    string  `json:"query"`
	Min      float64 `json:"min"`
	Schedule string  `json:"schedule"`
}

// BackupTarget is where the archives go: Dir on the server's disk ("": DATA/backups/
// APP/NAME) or S3.
type BackupTarget struct {
	Dir string    `json:"dir,omitempty"`
	S3  *S3Target `json:"s3,omitempty"`
}

// S3Target is a bucket of an S3-compatible store; the secret key is a secret's name.
type S3Target struct {
	// Endpoint is the store's URL (https://s3.eu-west-1.amazonaws.com, http://127.0.0.1:7070).
	Endpoint        string `json:"endpoint"`
	Bucket          string `json:"bucket"`
	Prefix          string `json:"prefix,omitempty"`
	Region          string `json:"region,omitempty"`
	AccessKey       string `json:"accessKey,omitempty"`
	AccessKeySecret string `json:"accessKeySecret,omitempty"`
	SecretKeySecret string `json:"secretKeySecret"`
}

// BackupEncrypt encrypts to age recipients; IdentitySecret, the secret that holds an
// age identity of one of them, lets tend decrypt for restores and drills.
type BackupEncrypt struct {
	Age            []string `json:"age"`
	IdentitySecret string   `json:"identitySecret,omitempty"`
}

// Backup defaults.
const (
	DefaultBackupSchedule = "@daily"
	DefaultVerifySchedule = "@weekly"
)

var backupNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func (d *decoder) backups(n *yaml.Node, field string) []Backup {
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, field, "want a list like [{name: db, postgres: {url: {secret: db-url}}, schedule: \"0 3 * * *\"}], got %s", kindName(n))
		return nil
	}
	out := make([]Backup, 0, len(n.Content))
	seen := map[string]bool{}
	for i, item := range n.Content {
		f := fmt.Sprintf("%s[%d]", field, i)
		b := Backup{}
		written := d.fields(item, f, map[string]func(*yaml.Node, string){
			"name": func(v *yaml.Node, f string) {
				b.Name = d.str(v, f)
				switch {
				case !backupNameRE.MatchString(b.Name):
					d.errorf(v, f, "want a name of lowercase letters, digits and '-' (like db), got %q", b.Name)
				case seen[b.Name]:
					d.errorf(v, f, "backup %q appears twice; keep one", b.Name)
				}
				seen[b.Name] = true
			},
			"postgres": func(v *yaml.Node, f string) {
				b.Postgres = &PostgresBackup{}
				w := d.fields(v, f, map[string]func(*yaml.Node, string){
					"url": func(v *yaml.Node, f string) {
						b.Postgres.URL, b.Postgres.URLSecret = d.valueOrSecret(v, f, "a postgres:// URL, or {secret: NAME}")
						if u := b.Postgres.URL; u != "" && !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
							d.errorf(v, f, "want a postgres:// URL, got %q", u)
						}
					},
				}, nil)
				if w != nil && !w["url"] {
					d.errorf(v, join(f, "url"), "required field is missing: the database's URL, or {secret: NAME} (tend secret set APP NAME)")
				}
			},
			"files": func(v *yaml.Node, f string) {
				b.Files = &FilesBackup{}
				w := d.fields(v, f, map[string]func(*yaml.Node, string){
					"path": func(v *yaml.Node, f string) { b.Files.Path = d.str(v, f) },
				}, nil)
				if w != nil && !w["path"] {
					d.errorf(v, join(f, "path"), "required field is missing: the directory to archive")
				}
			},
			"schedule": func(v *yaml.Node, f string) { b.Schedule = d.schedule(v, f) },
			"retain": func(v *yaml.Node, f string) {
				d.fields(v, f, map[string]func(*yaml.Node, string){
					"last":    func(v *yaml.Node, f string) { b.Retain.Last = d.count(v, f) },
					"daily":   func(v *yaml.Node, f string) { b.Retain.Daily = d.count(v, f) },
					"weekly":  func(v *yaml.Node, f string) { b.Retain.Weekly = d.count(v, f) },
					"monthly": func(v *yaml.Node, f string) { b.Retain.Monthly = d.count(v, f) },
				}, nil)
			},
			"verify": func(v *yaml.Node, f string) {
				b.Verify = &BackupVerify{}
				w := d.fields(v, f, map[string]func(*yaml.Node, string){
					"query":    func(v *yaml.Node, f string) { b.Verify.Query = d.str(v, f) },
					"min":      func(v *yaml.Node, f string) { b.Verify.Min = d.number(v, f) },
					"schedule": func(v *yaml.Node, f string) { b.Verify.Schedule = d.schedule(v, f) },
				}, nil)
				if w != nil && !w["query"] {
					d.errorf(v, join(f, "query"), "required field is missing: a query whose first value the restored copy must reach, like select count(*) from users")
				}
			},
			"to": func(v *yaml.Node, f string) { b.To = d.backupTarget(v, f) },
			"encrypt": func(v *yaml.Node, f string) {
				b.Encrypt = &BackupEncrypt{}
				w := d.fields(v, f, map[string]func(*yaml.Node, string){
					"age": func(v *yaml.Node, f string) { b.Encrypt.Age = d.ageRecipients(v, f) },
					"identity": func(v *yaml.Node, f string) {
						if _, b.Encrypt.IdentitySecret = d.valueOrSecret(v, f, "{secret: NAME}, a secret holding an age identity"); b.Encrypt.IdentitySecret == "" {
							d.errorf(v, f, "want {secret: NAME}: an age identity is a private key, kept as a secret (tend secret set APP NAME)")
						}
					},
				}, nil)
				if w != nil && !w["age"] {
					d.errorf(v, join(f, "age"), "required field is missing: the age recipients (age1...) archives are encrypted to")
				}
			},
		}, nil)
		if written != nil {
			if !written["name"] {
				d.errorf(item, join(f, "name"), "required field is missing")
			}
			if (b.Postgres == nil) == (b.Files == nil) {
				d.errorf(item, f, "want exactly one of postgres (a database) or files (a directory)")
			}
			if b.Verify != nil && b.Files != nil {
				d.errorf(item, join(f, "verify"), "a restore drill restores a database: only a postgres backup has one")
			}
			if b.Verify != nil && b.Encrypt != nil && b.Encrypt.IdentitySecret == "" {
				d.errorf(item, join(join(f, "encrypt"), "identity"), "required with verify: the drill decrypts the archive with it")
			}
		}
		out = append(out, b)
	}
	return out
}

// schedule reads a cron schedule, refusing one robfig/cron does not parse at its
// position.
func (d *decoder) schedule(n *yaml.Node, field string) string {
	s := d.str(n, field)
	if _, err := cron.ParseStandard(s); err != nil {
		d.errorf(n, field, "%v: want five fields (minute hour day month weekday) like \"0 3 * * *\", or @daily, @weekly, @every 6h", err)
	}
	return s
}

func (d *decoder) number(n *yaml.Node, field string) float64 {
	s, ok := d.scalar(n, field, "a number")
	if !ok {
		return 0
	}
	var v float64
	if _, err := fmt.Sscan(strings.TrimSpace(s), &v); err != nil {
		d.errorf(n, field, "want a number, got %q", s)
	}
	return v
}

// valueOrSecret reads a plain string, or {secret: NAME}.
func (d *decoder) valueOrSecret(n *yaml.Node, field, want string) (value, secret string) {
	n = resolve(n)
	switch n.Kind {
	case yaml.ScalarNode:
		return d.str(n, field), ""
	case yaml.MappingNode:
		d.fields(n, field, map[string]func(*yaml.Node, string){
			"secret": func(v *yaml.Node, f string) {
				if secret = d.str(v, f); CheckSecretName(secret) != nil {
					d.errorf(v, f, "%v", CheckSecretName(secret))
				}
			},
		}, nil)
		return "", secret
	}
	d.errorf(n, field, "want %s, got %s", want, kindName(n))
	return "", ""
}

func (d *decoder) ageRecipients(n *yaml.Node, field string) []string {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode {
		n = &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{n}, Line: n.Line, Column: n.Column}
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, field, "want age recipients like [age1...], got %s", kindName(n))
		return nil
	}
	var out []string
	for i, v := range n.Content {
		f := fmt.Sprintf("%s[%d]", field, i)
		r := d.str(v, f)
		if _, err := age.ParseX25519Recipient(r); err != nil {
			d.errorf(v, f, "not an age recipient (age1..., from age-keygen): %v", err)
			continue
		}
		out = append(out, r)
	}
	return out
}

func (d *decoder) backupTarget(n *yaml.Node, field string) BackupTarget {
	var t BackupTarget
	w := d.fields(n, field, map[string]func(*yaml.Node, string){
		"dir": func(v *yaml.Node, f string) {
			if t.Dir = d.str(v, f); !filepath.IsAbs(t.Dir) {
				d.errorf(v, f, "want an absolute directory on the server's disk, got %q", t.Dir)
			}
		},
		"s3": func(v *yaml.Node, f string) {
			s := &S3Target{}
			t.S3 = s
			w := d.fields(v, f, map[string]func(*yaml.Node, string){
				"endpoint": func(v *yaml.Node, f string) {
					if s.Endpoint = d.str(v, f); !strings.HasPrefix(s.Endpoint, "https://") && !strings.HasPrefix(s.Endpoint, "http://") {
						d.errorf(v, f, "want the store's URL, like https://s3.eu-west-1.amazonaws.com, got %q", s.Endpoint)
					}
				},
				"bucket": func(v *yaml.Node, f string) { s.Bucket = d.str(v, f) },
				"prefix": func(v *yaml.Node, f string) { s.Prefix = d.str(v, f) },
				"region": func(v *yaml.Node, f string) { s.Region = d.str(v, f) },
				"accessKey": func(v *yaml.Node, f string) {
					s.AccessKey, s.AccessKeySecret = d.valueOrSecret(v, f, "an access key id, or {secret: NAME}")
				},
				"secretKey": func(v *yaml.Node, f string) {
					if _, s.SecretKeySecret = d.valueOrSecret(v, f, "{secret: NAME}"); s.SecretKeySecret == "" {
						d.errorf(v, f, "want {secret: NAME}: a secret key is kept as a secret (tend secret set APP NAME), never in the spec")
					}
				},
			}, nil)
			if w != nil {
				for _, req := range []string{"endpoint", "bucket", "accessKey", "secretKey"} {
					if !w[req] {
						d.errorf(v, join(f, req), "required field is missing")
					}
				}
			}
		},
	}, nil)
	if w != nil && w["dir"] && w["s3"] {
		d.errorf(n, field, "want one of dir or s3")
	}
	return t
}

// setBackupDefaults fills each backup's schedules and retention.
func (a *App) setBackupDefaults() {
	for i := range a.Backups {
		b := &a.Backups[i]
		if b.Schedule == "" {
			b.Schedule = DefaultBackupSchedule
		}
		if b.Retain == (BackupRetain{}) {
			b.Retain = BackupRetain{Daily: 7, Weekly: 4, Monthly: 6}
		}
		if b.Verify != nil && b.Verify.Schedule == "" {
			b.Verify.Schedule = DefaultVerifySchedule
		}
	}
}

// validateBackups checks what needs the whole spec: a files backup's relative path
// resolves against the spec's directory, which a client's upload does not have on the
// server.
func (d *decoder) validateBackups(a *App) {
	for i, b := range a.Backups {
		if b.Files != nil && b.Files.Path != "" && !filepath.IsAbs(b.Files.Path) && a.Root != "" {
			d.at([]any{"backups", i, "files", "path"}, "a spec deployed from another machine needs an absolute path on the server, got %q", b.Files.Path)
		}
	}
}

// BackupPath is where a files backup's directory is: relative to the spec's
// directory, or absolute.
func (a *App) BackupPath(b Backup) string {
	if b.Files == nil {
		return ""
	}
	if filepath.IsAbs(b.Files.Path) {
		return filepath.Clean(b.Files.Path)
	}
	return filepath.Join(a.Dir, b.Files.Path)
}
