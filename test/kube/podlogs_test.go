package kube

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The fake kubelet's container logs, as a kubelet keeps and serves them: every line the
// container writes is stored with the time it was written ("RFC3339Nano TEXT", as the
// CRI log format does), the previous run's log is kept when the container restarts, and
// GET /containerLogs/NAMESPACE/POD/CONTAINER (what the API server's pods/log proxies
// to) answers with tailLines, sinceTime, timestamps, previous and follow.

// timestamper writes each whole line it is given to w with the time it came.
type timestamper struct {
	mu   sync.Mutex
	w    io.Writer
	part []byte
}

func (t *timestamper) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	data := append(t.part, p...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		if _, err := fmt.Fprintf(t.w, "%s %s\n", time.Now().UTC().Format(time.RFC3339Nano), data[:i]); err != nil {
			return 0, err
		}
		data = data[i+1:]
	}
	t.part = append(t.part[:0:0], data...)
	return len(p), nil
}

// containerLog is where a run of the pod's container logs (previous: the run before).
func (r *podRun) containerLog(previous bool) string {
	if previous {
		return filepath.Join(r.dir(), "container.previous.log")
	}
	return filepath.Join(r.dir(), "container.log")
}

// serveLogs starts the kubelet's HTTPS endpoint and returns its port.
func (k *kubelet) serveLogs() int {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(k.containerLogs))
	srv.Listener.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		k.t.Fatal(err)
	}
	srv.Listener = ln
	srv.StartTLS()
	k.t.Cleanup(srv.Close)
	return ln.Addr().(*net.TCPAddr).Port
}

func (k *kubelet) containerLogs(w http.ResponseWriter, req *http.Request) {
	parts := strings.Split(strings.TrimPrefix(req.URL.Path, "/containerLogs/"), "/")
	if len(parts) != 3 {
		http.NotFound(w, req)
		return
	}
	k.mu.Lock()
	run := k.pods[parts[0]+"/"+parts[1]]
	k.mu.Unlock()
	if run == nil || run.pod.Spec.Containers[0].Name != parts[2] {
		http.Error(w, "container "+parts[2]+" of pod "+parts[1]+" is not on this node", http.StatusNotFound)
		return
	}
	q := req.URL.Query()
	f, err := os.Open(run.containerLog(q.Get("previous") == "true"))
	if err != nil {
		http.Error(w, "no log: "+err.Error(), http.StatusBadRequest)
		return
	}
	defer f.Close()
	var since time.Time
	if v := q.Get("sinceTime"); v != "" {
		if since, err = time.Parse(time.RFC3339, v); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	stamps := q.Get("timestamps") == "true"
	write := func(line string) bool {
		ts, text, _ := strings.Cut(line, " ")
		if at, err := time.Parse(time.RFC3339Nano, ts); err == nil && at.Before(since) {
			return true
		}
		if !stamps {
			line = text
		}
		_, err := io.WriteString(w, line+"\n")
		return err == nil
	}
	// what is there now: all of it, or the last tailLines
	rd := bufio.NewReader(f)
	var lines []string
	var off int64
	for {
		l, err := rd.ReadString('\n')
		if err != nil {
			break // an incomplete last line waits for its newline
		}
		off += int64(len(l))
		lines = append(lines, strings.TrimSuffix(l, "\n"))
	}
	if v := q.Get("tailLines"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 && n < len(lines) {
			lines = lines[len(lines)-n:]
		}
	}
	for _, l := range lines {
		if !write(l) {
			return
		}
	}
	if q.Get("follow") != "true" {
		return
	}
	flusher, _ := w.(http.Flusher)
	for {
		if flusher != nil {
			flusher.Flush()
		}
		select {
		case <-req.Context().Done():
			return
		case <-k.stop:
			return
		case <-time.After(200 * time.Millisecond):
		}
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return
		}
		rd.Reset(f)
		for {
			l, err := rd.ReadString('\n')
			if err != nil {
				break
			}
			off += int64(len(l))
			if !write(strings.TrimSuffix(l, "\n")) {
				return
			}
		}
	}
}
