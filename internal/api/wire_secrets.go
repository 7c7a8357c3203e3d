package api

import (
	"github.com/tendhq/tend/internal/api/v1"
	"github.com/tendhq/tend/internal/controller"
	"github.com/tendhq/tend/internal/secret"
)

func wireSecrets(infos []secret.Info, uses map[string][]controller.SecretUse) []v1.Secret {
	out := make([]v1.Secret, 0, len(infos))
	for _, in := range infos {
		s := v1.Secret{Name: in.Name, Version: in.Version, Versions: in.Versions, Size: in.Size, UpdatedAt: in.UpdatedAt}
		for _, u := range uses[in.Name] {
			s.UsedBy = append(s.UsedBy, v1.SecretUse{Revision: u.Revision, Version: u.Version, Running: u.Running})
		}
		out = append(out, s)
	}
	return out
}
