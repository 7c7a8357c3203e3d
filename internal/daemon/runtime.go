package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/tendhq/tend/internal/build"
	"github.com/tendhq/tend/internal/controller"
	"github.com/tendhq/tend/internal/runtime"
	"github.com/tendhq/tend/internal/runtime/kubernetes"
	"github.com/tendhq/tend/internal/runtime/process"
	"github.com/tendhq/tend/internal/store"
)

// The runtimes a server can run instances on.
const (
	RuntimeProcess    = "process"
	RuntimeKubernetes = "kubernetes"
)

// openRuntime starts the runtime cfg names and the builder that makes its artifacts:
// executables for local processes, images in cfg.Registry for Kubernetes.
func openRuntime(ctx context.Context, cfg Config, dir string, st *store.Store, drain func(ctx context.Context, hostport string) error,
	secrets func(ctx context.Context, app string, versions map[string]int) (map[string][]byte, error), env []string, log *slog.Logger) (runtime.Runtime, controller.Builder, error) {
	builder := &build.Builder{Dir: filepath.Join(dir, "artifacts"), Logger: log}
	switch cfg.Runtime {
	case "", RuntimeProcess:
		user, err := process.ParseUser(cfg.InstanceUser)
		if err != nil {
			return nil, nil, &ConfigError{err}
		}
		rt, err := process.New(ctx, process.Options{DataDir: dir, Store: st, Logger: log, User: user, Verify: build.Verify, Secrets: secrets, Env: env,
			BeforeStop: func(ctx context.Context, inst runtime.Instance) error { return drain(ctx, inst.Addr) }})
		if err != nil {
			return nil, nil, fmt.Errorf("start the process runtime: %w", err)
		}
		return rt, builder, nil
	case RuntimeKubernetes:
		if cfg.Registry == "" {
			return nil, nil, &ConfigError{fmt.Errorf("--runtime kubernetes needs --registry: the repository tend pushes the images it builds to, which the cluster pulls from (e.g. registry.example.com/team)")}
		}
		// images have no C library: every executable is built static, for Linux (the
		// architecture stays this machine's: build on one like the nodes)
		builder.Env = []string{"CGO_ENABLED=0", "GOOS=linux"}
		rt, err := kubernetes.New(ctx, kubernetes.Options{Kubeconfig: cfg.Kubeconfig, Namespace: cfg.Namespace, Store: st, Logger: log, Secrets: secrets})
		if err != nil {
			return nil, nil, fmt.Errorf("start the kubernetes runtime: %w", err)
		}
		return rt, &build.Pusher{Builder: builder, Repository: cfg.Registry}, nil
	}
	return nil, nil, &ConfigError{fmt.Errorf("--runtime %q: want process or kubernetes", cfg.Runtime)}
}
