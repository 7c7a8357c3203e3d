package spec

import (
	"reflect"
	"testing"
)

func TestSecretsAreVariablesWithoutValues(t *testing.T) {
	src := "app: shop\nbuild: {main: ./cmd/shop}\nenv:\n  LOG_LEVEL: info\n  DATABASE_URL: {secret: db-url}\nsecrets: [API_KEY]\n"
	a, err := Parse("tend.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"LOG_LEVEL": "info"}; !reflect.DeepEqual(a.Env, want) {
		t.Errorf("env: %v, want %v (no secret among the plain values)", a.Env, want)
	}
	if want := map[string]string{"DATABASE_URL": "db-url", "API_KEY": "API_KEY"}; !reflect.DeepEqual(a.SecretVars(), want) {
		t.Errorf("secret variables: %v, want %v", a.SecretVars(), want)
	}
	if want := []string{"API_KEY", "db-url"}; !reflect.DeepEqual(a.SecretNames(), want) {
		t.Errorf("secret names: %v, want %v", a.SecretNames(), want)
	}
	if f := a.SecretField("db-url"); f != "env.DATABASE_URL.secret" {
		t.Errorf("db-url is used at %s", f)
	}
	if e := a.FieldError(a.SecretField("API_KEY"), "not set"); e.Line != 6 || e.Col != 11 {
		t.Errorf("API_KEY's error is at %d:%d, want 6:11 (secrets[0])", e.Line, e.Col)
	}

	// a revision changes when a variable comes to hold a secret, not for specs without
	plain, err := Parse("tend.yaml", []byte("app: shop\nbuild: {main: ./cmd/shop}\nenv:\n  LOG_LEVEL: info\n"))
	if err != nil {
		t.Fatal(err)
	}
	if plain.Hash() == a.Hash() {
		t.Error("adding secrets left the hash as it was")
	}
	plain.SecretEnv, plain.Secrets = map[string]string{}, []string{}
	before := plain.Hash()
	plain.SecretEnv, plain.Secrets = nil, nil
	if plain.Hash() != before {
		t.Error("an empty secrets list changed the hash of a spec")
	}
}
