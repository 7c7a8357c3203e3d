package controller

import (
	"context"
	"fmt"

	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/store"
)

// HostTakenError refuses a deploy that gives its app a host another app serves, for a
// caller that may not (a token for some apps only could otherwise take another app's
// traffic, or a certificate for its host).
type HostTakenError struct {
	App, Host, Owner string
}

func (e *HostTakenError) Error() string {
	return fmt.Sprintf("route.hosts: %s is a host of app %s: only an admin token may give %s a host another app serves (remove it from route.hosts, or deploy with an admin token)", e.Host, e.Owner, e.App)
}

// checkHosts refuses app's hosts that another app's route has.
func (c *Controller) checkHosts(ctx context.Context, app *spec.App) error {
	if len(app.Route.Hosts) == 0 {
		return nil
	}
	routes, err := store.List[route.Route](ctx, c.o.Store, store.RoutesPrefix)
	if err != nil {
		return fmt.Errorf("read the other apps' routes: %w", err)
	}
	for _, rt := range routes {
		if rt.App == app.App {
			continue
		}
		for _, h := range rt.Hosts {
			for _, mine := range app.Route.Hosts {
				if h == mine { // the spec has host names in lowercase
					return &HostTakenError{App: app.App, Host: mine, Owner: rt.App}
				}
			}
		}
	}
	return nil
}
