package trace

import "testing"

func TestParseTraceID(t *testing.T) {
	if _, err := ParseTraceID("4bf92f3577b34da6a3ce929d0e0e4736"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "4bf92f", "00000000000000000000000000000000", "zbf92f3577b34da6a3ce929d0e0e4736"} {
		if _, err := ParseTraceID(bad); err == nil {
			t.Errorf("ParseTraceID(%q) took it", bad)
		}
	}
}
