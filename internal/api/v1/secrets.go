package v1

import "time"

// Secret is what may be shown of one of an app's secrets: never its value.
type Secret struct {
	Name string `json:"name"`
	// Version is the newest, which the next deploy uses; Versions are those kept.
	Version  int   `json:"version"`
	Versions []int `json:"versions"`
	// Size is the newest value's length in bytes.
	Size      int       `json:"size"`
	UpdatedAt time.Time `json:"updatedAt"`
	// UsedBy are the recorded revisions that run with one of its versions, newest first.
	UsedBy []SecretUse `json:"usedBy,omitempty"`
}

// SecretUse is one revision's use of a secret.
type SecretUse struct {
	Revision int `json:"revision"`
	Version  int `json:"version"`
	// Running is true for a revision that has (or may soon have) instances: the stable
	// one, those of a rollout in progress, and warm ones.
	Running bool `json:"running,omitempty"`
}

// SecretValue is the body of PUT /v1/apps/{app}/secrets/{name}: the value, as bytes
// (base64 in JSON). It travels only to the server, which seals it.
type SecretValue struct {
	Value []byte `json:"value"`
}

// SecretSet is the answer to PUT /v1/apps/{app}/secrets/{name}.
type SecretSet struct {
	App     string `json:"app"`
	Name    string `json:"name"`
	Version int    `json:"version"`
}

// KeyRotation is the answer to POST /v1/secrets/rotate-key.
type KeyRotation struct {
	// Resealed is how many stored versions were sealed again with the new key.
	Resealed int `json:"resealed"`
	// Key is the file that holds the new key.
	Key string `json:"key"`
}

// SecretReveal is the body of POST /v1/apps/{app}/secrets/reveal: the secrets whose
// current values are asked for (tend export k8s --include-secrets).
type SecretReveal struct {
	Names []string `json:"names"`
}

// RevealedSecrets is the answer to POST /v1/apps/{app}/secrets/reveal: the newest
// version of each secret asked for and its value (base64 in JSON). It is the one answer
// of the API that holds values, and only when asked for by name.
type RevealedSecrets struct {
	App      string            `json:"app"`
	Versions map[string]int    `json:"versions"`
	Values   map[string][]byte `json:"values"`
}
