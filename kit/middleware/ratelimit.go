package middleware

import (
	"container/list"
	"math"
	"net/http"
	"strconv"
	"sync"

	"golang.org/x/time/rate"

	"github.com/tendhq/tend/kit/clientip"
)

// RateLimitOptions configure RateLimit.
type RateLimitOptions struct {
	// PerSecond and Burst size each client's token bucket.
	PerSecond float64
	Burst     int
	// MaxClients bounds memory: the least recently seen clients are forgotten (default 10000).
	MaxClients int
	// IPs finds the client address; nil uses the peer address only.
	IPs *clientip.Resolver
}

// RateLimit gives every client address its own token bucket and answers 429 with
// Retry-After when it is empty.
func RateLimit(o RateLimitOptions) Middleware {
	if o.MaxClients <= 0 {
		o.MaxClients = 10000
	}
	l := &limiters{o: o, byIP: map[string]*list.Element{}, order: list.New()}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			lim := l.get(o.IPs.ClientIP(r))
			if !lim.Allow() {
				// how long until a token is there, without taking it
				res := lim.Reserve()
				d := res.Delay()
				res.Cancel()
				w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(d.Seconds())))))
				http.Error(w, "too many requests", http.StatusTooManyRequests)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// limiters is a bounded LRU of token buckets by client address.
type limiters struct {
	o     RateLimitOptions
	mu    sync.Mutex
	byIP  map[string]*list.Element
	order *list.List
}

type entry struct {
	ip  string
	lim *rate.Limiter
}

func (l *limiters) get(ip string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.byIP[ip]; ok {
		l.order.MoveToFront(e)
		return e.Value.(*entry).lim
	}
	if l.order.Len() >= l.o.MaxClients {
		oldest := l.order.Back()
		l.order.Remove(oldest)
		delete(l.byIP, oldest.Value.(*entry).ip)
	}
	lim := rate.NewLimiter(rate.Limit(l.o.PerSecond), l.o.Burst)
	l.byIP[ip] = l.order.PushFront(&entry{ip: ip, lim: lim})
	return lim
}
