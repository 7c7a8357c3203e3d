// Command tend deploys, routes, watches and heals Go services.
package main

import "github.com/tendhq/tend/internal/cli"

func main() { cli.Execute() }
