package daemon_test

import (
	"os"
	"testing"

	"github.com/tendhq/tend/internal/cli"
)

// TestMain lets this test binary be the gateway process the servers under test start
// (`EXE gateway ...`), as the tend binary is.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "gateway" {
		cli.Execute()
	}
	os.Exit(m.Run())
}
