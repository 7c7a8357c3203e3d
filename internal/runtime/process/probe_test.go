package process

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestGRPCProbeAsksTheHealthService(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := health.NewServer() // grpc-go's own grpc.health.v1 service
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addr := ln.Addr().String()
	if err := checkGRPC(ctx, addr, ""); err != nil {
		t.Errorf("a serving server: %v", err)
	}
	hs.SetServingStatus("echo", healthpb.HealthCheckResponse_NOT_SERVING)
	if err := checkGRPC(ctx, addr, "echo"); err == nil || !strings.Contains(err.Error(), "NOT_SERVING") {
		t.Errorf("a service NOT_SERVING: %v, want an error saying so", err)
	}
	if err := checkGRPC(ctx, addr, "unknown"); err == nil {
		t.Error("a service the server does not know passed the probe")
	}
}
