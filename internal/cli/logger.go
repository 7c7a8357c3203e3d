package cli

import (
	"io"
	"log/slog"
)

func newFileLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }
