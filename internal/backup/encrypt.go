package backup

import (
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
)

// Encrypting makes write's output encrypted to the age recipients (none: as it is).
func Encrypting(recipients []string, write func(io.Writer) error) (func(io.Writer) error, error) {
	if len(recipients) == 0 {
		return write, nil
	}
	var rs []age.Recipient
	for _, s := range recipients {
		r, err := age.ParseX25519Recipient(s)
		if err != nil {
			return nil, fmt.Errorf("age recipient %q: %w", s, err)
		}
		rs = append(rs, r)
	}
	return func(w io.Writer) error {
		ew, err := age.Encrypt(w, rs...)
		if err != nil {
			return err
		}
		if err := write(ew); err != nil {
			return err
		}
		return ew.Close()
	}, nil
}

// Decrypting reads r decrypted with the age identity (an AGE-SECRET-KEY-1... line,
// as age-keygen writes it); with identity "", r as it is.
func Decrypting(r io.Reader, identity string) (io.Reader, error) {
	if identity == "" {
		return r, nil
	}
	ids, err := age.ParseIdentities(strings.NewReader(identity))
	if err != nil {
		return nil, fmt.Errorf("the age identity does not parse: %w", err)
	}
	dr, err := age.Decrypt(r, ids...)
	if err != nil {
		return nil, fmt.Errorf("decrypt the archive: %w (is the identity one of the spec's encrypt.age recipients?)", err)
	}
	return dr, nil
}
