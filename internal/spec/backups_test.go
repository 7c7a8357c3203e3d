package spec

import (
	"reflect"
	"testing"
)

// The example spec: a database on a schedule with its drill, and a directory.
func TestBackupsOfTheSpecWithTheirDefaults(t *testing.T) {
	a, err := Parse("tend.yaml", []byte(`app: shop
build: {main: ./cmd/shop}
backups:
- name: db
  postgres: {url: {secret: db-url}}
  schedule: "0 3 * * *"
  retain: {daily: 7, weekly: 4, monthly: 6}
  verify: {query: "select count(*) from users", min: 1}
  to:
    s3: {endpoint: "http://127.0.0.1:7070", bucket: backups, prefix: shop/, accessKey: {secret: s3-id}, secretKey: {secret: s3-key}}
- name: uploads
  files: {path: ./data/uploads}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Backup{
		{Name: "db", Postgres: &PostgresBackup{URLSecret: "db-url"}, Schedule: "0 3 * * *", Retain: BackupRetain{Daily: 7, Weekly: 4, Monthly: 6},
			Verify: &BackupVerify{Query: "select count(*) from users", Min: 1, Schedule: "@weekly"},
			To:     BackupTarget{S3: &S3Target{Endpoint: "http://127.0.0.1:7070", Bucket: "backups", Prefix: "shop/", AccessKeySecret: "s3-id", SecretKeySecret: "s3-key"}}},
		{Name: "uploads", Files: &FilesBackup{Path: "./data/uploads"}, Schedule: "@daily", Retain: BackupRetain{Daily: 7, Weekly: 4, Monthly: 6}},
	}
	if !reflect.DeepEqual(a.Backups, want) {
		t.Fatalf("backups:\n%+v\nwant\n%+v", a.Backups, want)
	}
	if got := a.SecretNames(); len(got) != 0 {
		t.Fatalf("instances get the backups' secrets: %v", got)
	}
}
