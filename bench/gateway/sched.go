package main

import (
	"fmt"
	"os"
	"strings"
)

const autogroup = "/proc/sys/kernel/sched_autogroup_enabled"

// fairScheduling turns the kernel's autogroup scheduling off for the run, when it is on
// and this process may, and returns what restores it and a sentence for the table.
//
// With autogroups the scheduler shares the CPU between sessions, not threads. tend's
// gateway and its instances each run in a session of their own (so that they outlive
// the server), while wrk, nginx, haproxy, caddy and the other targets share this
// program's session: on two cores, `tend server`'s gateway and backend then get a third
// of the machine each whatever they need, and wrk a third for itself, which measured
// 25k req/s instead of 32k for the same gateway (and a p99 of 27 ms instead of 8 ms).
func fairScheduling() (restore func(), note string) {
	b, err := os.ReadFile(autogroup)
	if err != nil || strings.TrimSpace(string(b)) != "1" {
		return func() {}, ""
	}
	if err := os.WriteFile(autogroup, []byte("0"), 0o644); err != nil {
		return func() {}, fmt.Sprintf("The kernel's autogroup scheduling is on and could not be turned off (%v): the CPU is shared between sessions, and `tend server`'s gateway and backend each run in a session of their own, so its row is not comparable with the others.", err)
	}
	return func() { _ = os.WriteFile(autogroup, []byte("1"), 0o644) },
		"The kernel's autogroup scheduling (CPU shared between sessions, not threads) was turned off during the run and restored after: tend's gateway and instances run in sessions of their own, every other target in the bench's."
}
