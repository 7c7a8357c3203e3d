package backup

import (
	"slices"
	"testing"
	"time"
)

func TestRetentionKeepsTheNewestOfEachPeriod(t *testing.T) {
	start := time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC)
	var objs []Object
	for d := range 100 { // two a day for 100 days
		for h := range 2 {
			at := start.AddDate(0, 0, d).Add(time.Duration(h) * 12 * time.Hour)
			objs = append(objs, Object{Name: at.Format(time.RFC3339), Time: at})
		}
	}
	gone := Retention{Daily: 7, Weekly: 4, Monthly: 6}.expired(objs)
	kept := map[string]bool{}
	for _, o := range objs {
		kept[o.Name] = true
	}
	for _, o := range gone {
		delete(kept, o.Name)
	}
	var names []string
	for n := range kept {
		names = append(names, n)
	}
	slices.Sort(names)
	want := []string{
		"2026-01-31T15:00:00Z", "2026-02-28T15:00:00Z", // the newest of January and February
		"2026-03-22T15:00:00Z", "2026-03-29T15:00:00Z", // ISO weeks 12 and 13 (a Sunday their last day)
		"2026-03-31T15:00:00Z",                         // March
		"2026-04-04T15:00:00Z", "2026-04-05T15:00:00Z", // the 7 days, with week 14's Sunday
		"2026-04-06T15:00:00Z", "2026-04-07T15:00:00Z", "2026-04-08T15:00:00Z", "2026-04-09T15:00:00Z",
		"2026-04-10T15:00:00Z", // the last day, of week 15 and April
	}
	if !slices.Equal(names, want) {
		t.Fatalf("kept %v\nwant %v", names, want)
	}
	if got := (Retention{Last: 7}).expired(objs); len(got) != len(objs)-7 || got[len(got)-1].Name != objs[len(objs)-8].Name {
		t.Fatalf("last 7: %d expired, want %d", len(got), len(objs)-7)
	}
	if got := (Retention{}).expired(objs[:1]); len(got) != 0 {
		t.Fatalf("no retention expired the only archive: %v", got)
	}
}
