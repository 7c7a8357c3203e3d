// Command client calls helloworld.Greeter/SayHello through tend's gateway at a steady
// rate for a while, over one HTTP/2 connection, and prints one JSON line: the calls by
// reply (which revision answered) and by gRPC status code.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"log"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/examples/helloworld/helloworld"
	"google.golang.org/grpc/status"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "the gateway")
	rps := flag.Int("rps", 100, "calls per second")
	d := flag.Duration("duration", 5*time.Second, "how long to call")
	flag.Parse()
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	c := helloworld.NewGreeterClient(conn)
	var mu sync.Mutex
	out := struct {
		Replies map[string]int `json:"replies"`
		Codes   map[string]int `json:"codes"`
	}{map[string]int{}, map[string]int{}}
	var wg sync.WaitGroup
	t := time.NewTicker(time.Second / time.Duration(*rps))
	defer t.Stop()
	for end := time.Now().Add(*d); time.Now().Before(end); <-t.C {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			r, err := c.SayHello(ctx, &helloworld.HelloRequest{Name: "tend"})
			mu.Lock()
			defer mu.Unlock()
			out.Codes[status.Code(err).String()]++
			if err == nil {
				out.Replies[r.GetMessage()]++
			}
		}()
	}
	wg.Wait()
	_ = json.NewEncoder(os.Stdout).Encode(out)
}
