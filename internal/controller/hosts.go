package controller

import (
	"context"
	"fmt"
	"strings"

	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/spec"
	"github.com/tendhq/tend/internal/store"
)

// HostTakenError refuses a deploy that gives its app a host another app serves, for a
// caller that may not (a token for some apps only could otherwise take another app's
// traffic, or a certificate for its host).
type HostTakenError struct {
	App, Host, Owner string
	Theirs           string // the owner's host that covers Host
}

func (e *HostTakenError) Error() string {
	if e.Theirs != "" && e.Theirs != e.Host {
		return fmt.Sprintf("route.hosts: %s is under %s, a host of app %s: only an admin token may give %s a host another app serves (remove it from route.hosts, or deploy with an admin token)", e.Host, e.Theirs, e.Owner, e.App)
	}
	return fmt.Sprintf("route.hosts: %s is a host of app %s: only an admin token may give %s a host another app serves (remove it from route.hosts, or deploy with an admin token)", e.Host, e.Owner, e.App)
}

// takes reports whether a route with host mine takes requests from one with host
// theirs: the same host, or a host (or a narrower wildcard) under their wildcard,
// which the gateway prefers to it.
func takes(mine, theirs string) bool {
	if mine == theirs {
		return true
	}
	suffix, wild := strings.CutPrefix(theirs, "*")
	return wild && strings.HasSuffix(mine, suffix)
}

// checkHosts refuses app's hosts that take requests another app's route has.
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
				if takes(mine, h) { // the spec has host names in lowercase
					return &HostTakenError{App: app.App, Host: mine, Owner: rt.App, Theirs: h}
				}
			}
		}
	}
	return nil
}
