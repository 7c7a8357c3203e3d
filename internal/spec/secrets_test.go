package spec

import (
	"reflect"
	"strings"
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
}

// A spec without secrets hashes as tend did before secrets (these hashes were computed
// by tend at 8c14d8e): a data dir's apps are not redeployed by an upgrade.
func TestSpecsWithoutSecretsKeepTheirHash(t *testing.T) {
	for src, want := range map[string]string{
		"app: shop\nbuild: {main: ./cmd/shop}\nenv: {}\n":                                         "594dc7131fa65be5ceaa2420ebb6102ad40cdea5f17add029177fd985bf92555",
		"app: shop\nbuild: {main: ./cmd/shop}\nenv: {LOG_LEVEL: info}\nargs: [\"-port=$PORT\"]\n": "c94a14e17ab403dd397eff81182472e8688e0eea178f3b7d06f1e71ce4fc8c1a",
		"app: shop\nbuild: {main: ./cmd/shop}\n":                                                  "5be97aa1ca3af728797804f673240a01007a46a6b87d42312eccf1dd90642c3d",
	} {
		a, err := Parse("tend.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Hash(); got != want {
			t.Errorf("%q hashes to %s, was %s", src, got, want)
		}
	}
}

func TestASecretIsNotExpandedInArguments(t *testing.T) {
	_, err := Parse("tend.yaml", []byte("app: shop\nbuild: {main: ./cmd/shop}\nenv: {DATABASE_URL: {secret: db-url}}\nargs: [\"-db=${DATABASE_URL}\", \"-port=$PORT\"]\n"))
	if err == nil || !strings.Contains(err.Error(), "tend.yaml:4:8: args[0]: $DATABASE_URL holds a secret") {
		t.Fatalf("got %v", err)
	}
}
