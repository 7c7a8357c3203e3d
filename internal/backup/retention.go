package backup

import (
	"fmt"
	"time"
)

// Retention says which archives of a job are kept: the newest Last, and the newest of
// each of the last Daily days, Weekly ISO weeks and Monthly months that have one (as
// restic's forget --keep-last/daily/weekly/monthly does). The newest archive is
// always kept.
type Retention struct {
	Last    int `json:"last,omitempty"`
	Daily   int `json:"daily,omitempty"`
	Weekly  int `json:"weekly,omitempty"`
	Monthly int `json:"monthly,omitempty"`
}

// expired are the objects (oldest first, as List gives them) that r does not keep.
func (r Retention) expired(objs []Object) []Object {
	keep := make([]bool, len(objs))
	if len(objs) > 0 {
		keep[len(objs)-1] = true
	}
	for i := len(objs) - 1; i >= 0 && i >= len(objs)-r.Last; i-- {
		keep[i] = true
	}
	for _, b := range []struct {
		n   int
		key func(time.Time) string
	}{
		{r.Daily, func(t time.Time) string { return t.Format("2006-01-02") }},
		{r.Weekly, func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-%02d", y, w) }},
		{r.Monthly, func(t time.Time) string { return t.Format("2006-01") }},
	} {
		seen := map[string]bool{}
		for i := len(objs) - 1; i >= 0 && len(seen) < b.n; i-- {
			k := b.key(objs[i].Time.UTC())
			if !seen[k] {
				seen[k] = true
				keep[i] = true
			}
		}
	}
	var out []Object
	for i, o := range objs {
		if !keep[i] {
			out = append(out, o)
		}
	}
	return out
}
