package api

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/tendhq/tend/internal/api/v1"
)

// rawBody is a request body sent as it is, not as JSON.
type rawBody struct {
	r           io.Reader
	contentType string
}

// HasUpload reports whether the server has the upload digest.
func (c *Client) HasUpload(ctx context.Context, digest string) (bool, error) {
	var v v1.Upload
	err := c.getJSON(ctx, http.MethodGet, "/v1/uploads/"+digest, nil, &v)
	var answer *Error
	if errors.As(err, &answer) && answer.Code == http.StatusNotFound {
		return false, nil
	}
	return err == nil, err
}

// PutUpload sends an upload, a gzipped tar stream that write writes.
func (c *Client) PutUpload(ctx context.Context, digest string, write func(io.Writer) error) (v1.Upload, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(write(pw)) }()
	var v v1.Upload
	err := c.getJSON(ctx, http.MethodPut, "/v1/uploads/"+digest, rawBody{r: pr, contentType: "application/gzip"}, &v)
	pr.CloseWithError(err) // the writer ends if the server answered early
	return v, err
}
