package store

import (
	"os/exec"
	"strings"
	"testing"
)

// The store is the boundary to etcd: no other package of tend speaks to it directly.
func TestOnlyTheStoreImportsTheEtcdClient(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "github.com/tendhq/tend/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		checked++
		for _, imp := range fields[1:] {
			if strings.HasPrefix(imp, "go.etcd.io/etcd/client/v3") && fields[0] != "github.com/tendhq/tend/internal/store" {
				t.Errorf("%s imports %s: use the store's typed operations", fields[0], imp)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("go list listed %d packages; want tend's packages", checked)
	}
}
