package acmetest

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// startDNS serves DNS on an ephemeral port of 127.0.0.1, over UDP and TCP (Pebble's VA
// asks over TCP), until t's cleanup, and returns its address. Every name is 127.0.0.1:
// A queries get that answer, all others (AAAA, CAA, TXT...) an empty NOERROR.
func startDNS(t testing.TB) string {
	t.Helper()
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	for attempt := 0; attempt < 10; attempt++ {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatalf("start the DNS server: %v", err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close() // the TCP port of the same number is taken: another one
	}
	if err != nil {
		t.Fatalf("start the DNS server over TCP: %v", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { serveUDP(pc) })
	wg.Go(func() { serveTCP(ln, &wg) })
	t.Cleanup(func() {
		pc.Close()
		ln.Close()
		wg.Wait()
	})
	return pc.LocalAddr().String()
}

func serveUDP(pc net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if resp, ok := answer(buf[:n]); ok {
			_, _ = pc.WriteTo(resp, addr)
		}
	}
}

// serveTCP answers the queries of each connection (two-byte length, then the message).
func serveTCP(ln net.Listener, wg *sync.WaitGroup) {
	var (
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
	)
	defer func() {
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		mu.Lock()
		conns[c] = true
		mu.Unlock()
		wg.Go(func() {
			defer func() {
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
				c.Close()
			}()
			for {
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				var l [2]byte
				if _, err := io.ReadFull(c, l[:]); err != nil {
					return
				}
				msg := make([]byte, binary.BigEndian.Uint16(l[:]))
				if _, err := io.ReadFull(c, msg); err != nil {
					return
				}
				resp, ok := answer(msg)
				if !ok {
					return
				}
				out := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
				if _, err := c.Write(append(out, resp...)); err != nil {
					return
				}
			}
		})
	}
}

// answer is the response to the query msg (false: not a query it can parse).
func answer(msg []byte) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil || h.Response {
		return nil, false
	}
	qs, err := p.AllQuestions()
	if err != nil {
		return nil, false
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{
		ID:                 h.ID,
		Response:           true,
		OpCode:             h.OpCode,
		Authoritative:      true,
		RecursionDesired:   h.RecursionDesired,
		RecursionAvailable: true,
		RCode:              dnsmessage.RCodeSuccess,
	})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, false
	}
	for _, q := range qs {
		if err := b.Question(q); err != nil {
			return nil, false
		}
	}
	if err := b.StartAnswers(); err != nil {
		return nil, false
	}
	for _, q := range qs {
		if q.Type != dnsmessage.TypeA || q.Class != dnsmessage.ClassINET {
			continue
		}
		rh := dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 0}
		if err := b.AResource(rh, dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}}); err != nil {
			return nil, false
		}
	}
	resp, err := b.Finish()
	if err != nil {
		return nil, false
	}
	return resp, true
}
