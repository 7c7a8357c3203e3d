package gateway

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

// The gateway process hands duplicates of its listening sockets to the server that asks
// (SCM_RIGHTS over a unix socket), so that the server can start a new gateway on the
// same sockets when this one dies: connections wait in the kernel's backlog meanwhile,
// and none is refused.

// ListenerEnv names, in a gateway started by the server, its inherited listening
// sockets in descriptor order from 3: "gateway" (plain HTTP), then "https" when it serves HTTPS.
const ListenerEnv = "TEND_GATEWAY_LISTENERS"

// sendListeners writes one message on c: the listeners' names, comma-separated, with
// their descriptors attached.
func sendListeners(c *net.UnixConn, names []string, files []*os.File) error {
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	_, _, err := c.WriteMsgUnix([]byte(strings.Join(names, ",")), syscall.UnixRights(fds...), nil)
	return err
}

// FetchListeners asks the gateway whose listeners socket is at path for its listening
// sockets; it returns them by name, as files the caller owns.
func FetchListeners(path string, timeout time.Duration) (map[string]*os.File, error) {
	conn, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	uc := conn.(*net.UnixConn)
	_ = uc.SetDeadline(time.Now().Add(timeout))
	buf := make([]byte, 256)
	oob := make([]byte, syscall.CmsgSpace(4*4))
	n, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("read the gateway's listeners from %s: %w", path, err)
	}
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, fmt.Errorf("read the gateway's listeners: %w", err)
	}
	var fds []int
	for _, m := range msgs {
		f, err := syscall.ParseUnixRights(&m)
		if err != nil {
			return nil, fmt.Errorf("read the gateway's listeners: %w", err)
		}
		fds = append(fds, f...)
	}
	names := strings.Split(string(buf[:n]), ",")
	if len(names) != len(fds) {
		for _, fd := range fds {
			syscall.Close(fd)
		}
		return nil, fmt.Errorf("the gateway sent %d listeners for names %q", len(fds), names)
	}
	out := map[string]*os.File{}
	for i, name := range names {
		syscall.CloseOnExec(fds[i])
		out[name] = os.NewFile(uintptr(fds[i]), name)
	}
	return out, nil
}

// Listener names: the plain HTTP listener and the HTTPS one.
const (
	ListenerHTTP  = "gateway"
	ListenerHTTPS = "https"
)

// socket is a listening socket and the file of its descriptor (kept to hand out).
type socket struct {
	ln   net.Listener
	file *os.File
}

// inheritedListeners returns the listeners a parent passed from descriptor 3 on, by
// name (ListenerEnv), or nil when there are none.
func inheritedListeners() (map[string]socket, error) {
	names := os.Getenv(ListenerEnv)
	if names == "" {
		return nil, nil
	}
	os.Unsetenv(ListenerEnv) // for this process only
	out := map[string]socket{}
	for i, name := range strings.Split(names, ",") {
		if name != ListenerHTTP && name != ListenerHTTPS {
			return nil, fmt.Errorf("%s=%q: want %s or %s,%s", ListenerEnv, names, ListenerHTTP, ListenerHTTP, ListenerHTTPS)
		}
		fd := uintptr(3 + i)
		syscall.CloseOnExec(int(fd))
		f := os.NewFile(fd, name)
		ln, err := net.FileListener(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("inherited %s listener (fd %d): %w", name, fd, err)
		}
		out[name] = socket{ln: ln, file: f}
	}
	if _, ok := out[ListenerHTTP]; !ok {
		return nil, fmt.Errorf("%s=%q: the %s listener is missing", ListenerEnv, names, ListenerHTTP)
	}
	return out, nil
}

// listen binds addr and keeps its descriptor's file.
func listen(addr string) (socket, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return socket{}, err
	}
	f, err := listenerFile(ln)
	if err != nil {
		ln.Close()
		return socket{}, err
	}
	return socket{ln: ln, file: f}, nil
}

// listenerFile returns a duplicate of ln's descriptor, to hand to others.
func listenerFile(ln net.Listener) (*os.File, error) {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return nil, errors.New("the gateway listener is not TCP")
	}
	return tl.File()
}
