package api

import (
	"fmt"
	"sync"
	"time"
)

// Uploads are the one thing a deploy token can make the server store at will, so what
// one token may send is bounded: a few uploads at once on the whole server, and a
// volume per token and hour (an admin token has no volume bound). The disk guard
// (Options.Room) stays the last line.
const (
	maxUploadsAtOnce = 2
	uploadQuota      = 2 << 30 // bytes a token may send per uploadWindow
	uploadWindow     = time.Hour
)

// uploadLimits counts the uploads in progress and what each token sent lately.
type uploadLimits struct {
	slots chan struct{}
	mu    sync.Mutex
	sent  map[string][]sentUpload // by token name
	now   func() time.Time
}

type sentUpload struct {
	at    time.Time
	bytes int64
}

func newUploadLimits() *uploadLimits {
	return &uploadLimits{slots: make(chan struct{}, maxUploadsAtOnce), sent: map[string][]sentUpload{}, now: time.Now}
}

// start takes a slot for an upload, or says why not; done gives it back.
func (l *uploadLimits) start() (done func(), err error) {
	select {
	case l.slots <- struct{}{}:
		return func() { <-l.slots }, nil
	default:
		return nil, fmt.Errorf("%d uploads are in progress on this server, the most at once: try again in a few seconds", maxUploadsAtOnce)
	}
}

// left is how many bytes the token may still send in this window.
func (l *uploadLimits) left(name string) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	cut := l.now().Add(-uploadWindow)
	kept := l.sent[name][:0]
	var total int64
	for _, s := range l.sent[name] {
		if s.at.After(cut) {
			kept = append(kept, s)
			total += s.bytes
		}
	}
	if len(kept) == 0 {
		delete(l.sent, name)
	} else {
		l.sent[name] = kept
	}
	return max(uploadQuota-total, 0)
}

// add records bytes the token sent.
func (l *uploadLimits) add(name string, bytes int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent[name] = append(l.sent[name], sentUpload{at: l.now(), bytes: bytes})
}
