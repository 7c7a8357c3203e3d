package registry

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// TestMain doubles as a registering service when REGISTRY_CHILD_ETCD is set.
func TestMain(m *testing.M) {
	if ep := os.Getenv("REGISTRY_CHILD_ETCD"); ep != "" {
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second})
		if err != nil {
			os.Exit(2)
		}
		if _, err := Register(context.Background(), c, Service{Name: "orders", Address: "127.0.0.1", Port: 9999}, 2*time.Second); err != nil {
			fmt.Println("ERR", err)
			os.Exit(2)
		}
		fmt.Println("REGISTERED")
		select {} // until killed
	}
	os.Exit(m.Run())
}

func freeURL(t *testing.T) url.URL {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return url.URL{Scheme: "http", Host: ln.Addr().String()}
}

// startEtcd runs a real etcd in the test on loopback.
func startEtcd(t *testing.T) (*clientv3.Client, string) {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Dir = t.TempDir()
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	peer, client := freeURL(t), freeURL(t)
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.InitialCluster = cfg.Name + "=" + peer.String()
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("etcd not ready")
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{client.String()}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, client.String()
}

func TestRegisterLookupWatchDeregister(t *testing.T) {
	c, _ := startEtcd(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	updates, err := Watch(ctx, c, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if first := <-updates; len(first) != 0 {
		t.Fatalf("first update %v, want empty", first)
	}
	s := Service{Name: "orders", Address: "127.0.0.1", Port: 8081, Metadata: map[string]string{"revision": "3"}}
	r, err := Register(ctx, c, s, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := <-updates; len(got) != 1 || got[0].Metadata["revision"] != "3" {
		t.Fatalf("watch after register: %v", got)
	}
	resp, _ := c.Get(ctx, "/services/orders/127.0.0.1:8081")
	if len(resp.Kvs) != 1 || resp.Kvs[0].Lease == 0 {
		t.Fatalf("key %v not under a lease", resp.Kvs)
	}
	if list, err := Lookup(ctx, c, "orders"); err != nil || len(list) != 1 || list[0].Port != 8081 {
		t.Fatalf("lookup: %v %v", list, err)
	}
	if err := r.Deregister(ctx); err != nil {
		t.Fatal(err)
	}
	// gone at once after a graceful stop
	if list, _ := Lookup(ctx, c, "orders"); len(list) != 0 {
		t.Fatalf("after deregister: %v", list)
	}
	if got := <-updates; len(got) != 0 {
		t.Fatalf("watch after deregister: %v", got)
	}
}

func TestKeyExpiresWithinTTLAfterKill(t *testing.T) {
	c, endpoint := startEtcd(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "REGISTRY_CHILD_ETCD="+endpoint)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if !strings.HasPrefix(line, "REGISTERED") {
		t.Fatalf("child: %q", line)
	}
	if list, _ := Lookup(context.Background(), c, "orders"); len(list) != 1 {
		t.Fatalf("registered: %v", list)
	}
	killed := time.Now()
	_ = cmd.Process.Kill()
	for time.Since(killed) < 30*time.Second {
		if list, _ := Lookup(context.Background(), c, "orders"); len(list) == 0 {
			t.Logf("key gone %s after kill -9 (TTL 2s)", time.Since(killed).Round(100*time.Millisecond))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the key outlived its lease")
}

func ExampleRegister() {
	ctx := context.Background()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{os.Getenv("ETCD_ENDPOINT")}})
	if err != nil || os.Getenv("ETCD_ENDPOINT") == "" {
		return
	}
	r, err := Register(ctx, c, Service{Name: "orders", Address: "10.0.0.7", Port: 8080}, 10*time.Second)
	if err != nil {
		panic(err)
	}
	defer r.Deregister(ctx)
	// Output:
}
