package monitor

import (
	"os"
	"strconv"
	"strings"
)

// procSample is a value read from /proc for one instance.
type procSample struct {
	name  string
	value float64
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat; 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// procSamples reads an instance's CPU time and resident memory from /proc; nothing when
// the process is gone or /proc is not there.
func procSamples(pid int) []procSample {
	if pid <= 0 {
		return nil
	}
	var out []procSample
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
		// the command name (field 2) may hold spaces and parentheses: fields are counted after its closing one
		if i := strings.LastIndexByte(string(b), ')'); i > 0 {
			f := strings.Fields(string(b[i+1:]))
			// f[0] is field 3 (state): utime and stime are fields 14 and 15
			if len(f) > 13 {
				ut, err1 := strconv.ParseFloat(f[11], 64)
				st, err2 := strconv.ParseFloat(f[12], 64)
				if err1 == nil && err2 == nil {
					out = append(out, procSample{"tend_instance_cpu_seconds_total", (ut + st) / clockTicks})
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			if pages, err := strconv.ParseFloat(f[1], 64); err == nil {
				out = append(out, procSample{"tend_instance_resident_memory_bytes", pages * float64(os.Getpagesize())})
			}
		}
	}
	return out
}
