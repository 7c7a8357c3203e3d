package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/tendhq/tend/internal/gateway/route"
	"github.com/tendhq/tend/internal/store"
)

// echoService is a grpc-go TestService: unary calls answer with a payload of the asked
// size or the asked status; a full-duplex call echoes every message as it comes.
type echoService struct {
	testgrpc.UnimplementedTestServiceServer
	canceled chan struct{}
}

func (e *echoService) UnaryCall(ctx context.Context, in *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	if s := in.GetResponseStatus(); s != nil && s.GetCode() != 0 {
		return nil, status.Error(codes.Code(s.GetCode()), s.GetMessage())
	}
	if in.GetResponseSize() < 0 { // wait for the client to give up
		<-ctx.Done()
		close(e.canceled)
		return nil, ctx.Err()
	}
	return &testgrpc.SimpleResponse{Payload: &testgrpc.Payload{Body: make([]byte, in.GetResponseSize())}}, nil
}

func (e *echoService) FullDuplexCall(stream grpc.BidiStreamingServer[testgrpc.StreamingOutputCallRequest, testgrpc.StreamingOutputCallResponse]) error {
	for {
		in, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: in.GetPayload()}); err != nil {
			return err
		}
	}
}

// startGRPC serves an echoService on 127.0.0.1 and returns its endpoint for app.
func startGRPC(t *testing.T, app string) (*echoService, store.Endpoint) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	svc := &echoService{canceled: make(chan struct{})}
	srv := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(srv, svc)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	port := ln.Addr().(*net.TCPAddr).Port
	return svc, store.Endpoint{Name: app, Address: "127.0.0.1", Port: port, Metadata: map[string]string{"revision": "1", "instance": "g" + strconv.Itoa(port)}}
}

func TestGRPCCallsAndStreamsPassThroughTheGateway(t *testing.T) {
	svc, ep := startGRPC(t, "echo")
	reg := prometheus.NewRegistry()
	g := New(Options{Registerer: reg})
	_, addr := startServer(t, g, []route.Route{{App: "echo", PathPrefix: "/", Protocol: "http2"}}, []store.Endpoint{ep})
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority("echo"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	client := testgrpc.NewTestServiceClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	resp, err := client.UnaryCall(ctx, &testgrpc.SimpleRequest{ResponseSize: 1000})
	if err != nil || len(resp.GetPayload().GetBody()) != 1000 {
		t.Fatalf("unary call through the gateway: %v (%d bytes)", err, len(resp.GetPayload().GetBody()))
	}

	// one message out, its echo back, five times: the stream is not buffered anywhere
	stream, err := client.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		body := []byte("message " + strconv.Itoa(i))
		if err := stream.Send(&testgrpc.StreamingOutputCallRequest{Payload: &testgrpc.Payload{Body: body}}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		got, err := stream.Recv()
		if err != nil || string(got.GetPayload().GetBody()) != string(body) {
			t.Fatalf("echo %d: %q %v", i, got.GetPayload().GetBody(), err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("the end of the stream: %v, want io.EOF", err)
	}

	// a failed call reaches the client with its status, and counts as a failure
	_, err = client.UnaryCall(ctx, &testgrpc.SimpleRequest{ResponseStatus: &testgrpc.EchoStatus{Code: int32(codes.Unavailable), Message: "overloaded"}})
	if s, _ := status.FromError(err); s.Code() != codes.Unavailable || s.Message() != "overloaded" {
		t.Fatalf("a call answered UNAVAILABLE reached the client as %v", err)
	}
	if n := testutil.ToFloat64(g.metrics.requests.WithLabelValues("echo", "1", ep.Metadata["instance"], "POST", "503")); n != 1 {
		t.Errorf("tend_gateway_requests_total{code=\"503\"} = %v after one UNAVAILABLE call, want 1", n)
	}
	if n := testutil.ToFloat64(g.metrics.requests.WithLabelValues("echo", "1", ep.Metadata["instance"], "POST", "200")); n != 2 {
		t.Errorf("tend_gateway_requests_total{code=\"200\"} = %v after a unary call and a stream, want 2", n)
	}

	// a client that gives up cancels the call on the instance
	short, stop := context.WithTimeout(ctx, 200*time.Millisecond)
	defer stop()
	if _, err := client.UnaryCall(short, &testgrpc.SimpleRequest{ResponseSize: -1}); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("a call past its deadline: %v", err)
	}
	select {
	case <-svc.canceled:
	case <-time.After(5 * time.Second):
		t.Fatal("the instance's call was not cancelled when the client gave up")
	}
}

func TestHTTP2ByPriorKnowledgeOnThePlainListener(t *testing.T) {
	b := startBackend(t, "b", nil)
	url := serve(t, New(Options{}), []route.Route{{App: "hello", PathPrefix: "/"}}, []store.Endpoint{b.endpoint("hello", 1)})
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || string(body) != "b" {
		t.Errorf("h2c GET: %s %d %q, want HTTP/2.0 200 \"b\"", resp.Proto, resp.StatusCode, body)
	}
}
