package spec

import "github.com/tendhq/tend/internal/yamldoc"

// Errors is every problem found in one spec, in file order: each names the file, line,
// column and field.
type Errors = yamldoc.Errors
