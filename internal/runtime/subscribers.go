package runtime

import "sync"

// Subscribers hands out the channels of Runtime.Subscribe and tells them of changes; a
// subscriber that is behind misses names rather than blocking the runtime. The zero
// value is ready to use.
type Subscribers struct {
	mu    sync.Mutex
	chans map[chan string]struct{}
}

// Subscribe returns a channel that receives an app's name whenever Notify is called
// with it, and a function that unsubscribes.
func (s *Subscribers) Subscribe() (<-chan string, func()) {
	ch := make(chan string, 64)
	s.mu.Lock()
	if s.chans == nil {
		s.chans = map[chan string]struct{}{}
	}
	s.chans[ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		delete(s.chans, ch)
		s.mu.Unlock()
	}
}

// Notify tells every subscriber that one of app's instances changed.
func (s *Subscribers) Notify(app string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.chans {
		select {
		case ch <- app:
		default:
		}
	}
}
