package cli

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// completeFromServer adds shell completion that asks the server: the APP argument of
// every command whose first argument is an app (from GET /v1/apps), instance ids for
// --instance (of the app already typed), and the values of -o. Completion must be
// quick and quiet: a server that does not answer within two seconds completes nothing.
func completeFromServer(root *cobra.Command, g *globals) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		args := strings.Fields(c.Use)
		if len(args) > 1 && strings.Trim(args[1], "[]") == "APP" && c.ValidArgsFunction == nil {
			c.ValidArgsFunction = func(cmd *cobra.Command, done []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
				if len(done) > 0 {
					return nil, cobra.ShellCompDirectiveNoFileComp
				}
				return appNames(cmd, g), cobra.ShellCompDirectiveNoFileComp
			}
		}
		if c.Flags().Lookup("output") != nil {
			_ = c.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]cobra.Completion{"table", "wide", "json", "yaml", "jsonpath=", "go-template="}, cobra.ShellCompDirectiveNoFileComp))
		}
		if c.Flags().Lookup("instance") != nil {
			_ = c.RegisterFlagCompletionFunc("instance", func(cmd *cobra.Command, done []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
				if len(done) == 0 {
					return nil, cobra.ShellCompDirectiveNoFileComp
				}
				return instanceIDs(cmd, g, done[0]), cobra.ShellCompDirectiveNoFileComp
			})
		}
	}
	walk(root)
}

// appNames is every app the server knows, or none when it cannot be asked.
func appNames(cmd *cobra.Command, g *globals) []cobra.Completion {
	c, err := g.client()
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Second)
	defer cancel()
	apps, err := c.Apps(ctx)
	if err != nil {
		return nil
	}
	out := make([]cobra.Completion, 0, len(apps))
	for _, a := range apps {
		out = append(out, cobra.CompletionWithDesc(a.App, string(a.Strategy)+", revision "+strconv.Itoa(a.Rollout.Stable)))
	}
	return out
}

// instanceIDs is every instance of app, or none when the server cannot be asked.
func instanceIDs(cmd *cobra.Command, g *globals, app string) []cobra.Completion {
	c, err := g.client()
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Second)
	defer cancel()
	st, err := c.Status(ctx, app)
	if err != nil {
		return nil
	}
	out := make([]cobra.Completion, 0, len(st.Running))
	for _, in := range st.Running {
		out = append(out, cobra.CompletionWithDesc(in.ID, "revision "+strconv.Itoa(in.Revision)+", "+string(in.State)))
	}
	return out
}
