// Package buildinfo reports which build of a service is running: version, commit and build time.
package buildinfo

import (
	"encoding/json"
	"net/http"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Set at build time with -ldflags "-X github.com/tendhq/tend/kit/buildinfo.Version=v1.2.3 ..."
// (tend's build does this); empty values fall back to what the Go toolchain recorded.
var (
	Version   string
	Commit    string
	BuildTime string
)

// Info describes the running build.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	BuildTime string `json:"buildTime"`
	GoVersion string `json:"goVersion"`
}

// Get returns the build's info: the -ldflags values, else the VCS stamp from
// runtime/debug (vcs.revision, vcs.time, the main module's version), else "unknown".
func Get() Info {
	i := Info{Version: Version, Commit: Commit, BuildTime: BuildTime, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if i.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			i.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && i.Commit == "":
				i.Commit = s.Value
			case s.Key == "vcs.time" && i.BuildTime == "":
				i.BuildTime = s.Value
			}
		}
	}
	for _, f := range []*string{&i.Version, &i.Commit, &i.BuildTime} {
		if *f == "" {
			*f = "unknown"
		}
	}
	return i
}

// Handler answers GET /version with the build info as JSON.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(Get())
	})
}

// Collector is a build_info gauge, always 1, labelled with the build's info.
func Collector() prometheus.Collector {
	i := Get()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "build_info", Help: "The running build: always 1, with its version, commit, build time and Go version.",
		ConstLabels: prometheus.Labels{"version": i.Version, "commit": i.Commit, "build_time": i.BuildTime, "goversion": i.GoVersion}})
	g.Set(1)
	return g
}
