// Command server is a gRPC greeter for tend's canary tests: it answers grpc-go's
// helloworld.Greeter/SayHello with the revision tend started it as (TEND_REVISION), fails
// a share of the calls with UNAVAILABLE (FAULT_UNAVAILABLE_RATE, 0 to 1), and serves the
// standard grpc.health.v1 service. It listens on 127.0.0.1:$PORT.
package main

import (
	"context"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/examples/helloworld/helloworld"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

type greeter struct {
	helloworld.UnimplementedGreeterServer
	revision string
	fail     float64
}

func (g *greeter) SayHello(_ context.Context, in *helloworld.HelloRequest) (*helloworld.HelloReply, error) {
	if g.fail > 0 && rand.Float64() < g.fail {
		return nil, status.Error(codes.Unavailable, "injected fault (FAULT_UNAVAILABLE_RATE)")
	}
	return &helloworld.HelloReply{Message: "revision " + g.revision}, nil
}

func main() {
	fail, _ := strconv.ParseFloat(os.Getenv("FAULT_UNAVAILABLE_RATE"), 64)
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	if err != nil {
		log.Fatal(err)
	}
	s := grpc.NewServer()
	helloworld.RegisterGreeterServer(s, &greeter{revision: os.Getenv("TEND_REVISION"), fail: fail})
	healthpb.RegisterHealthServer(s, health.NewServer()) // SERVING for "" from the start
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	go func() { <-sig; s.GracefulStop() }()
	fmt.Println("greeter serving on", ln.Addr())
	if err := s.Serve(ln); err != nil {
		log.Fatal(err)
	}
}
