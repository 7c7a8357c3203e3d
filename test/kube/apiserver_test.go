// Package kube runs tend's Kubernetes output against a real API server: kube-apiserver
// built from k8s.io/kubernetes by tools/kube/build.sh, on loopback, with an embedded etcd.
package kube

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/tendhq/tend/test/harness"
)

// Version is the Kubernetes release tools/kube/build.sh builds.
const Version = "v1.37.2"

// apiserverBinary is where tools/kube/build.sh leaves kube-apiserver.
func apiserverBinary() string {
	if p := os.Getenv("TEND_KUBE_APISERVER"); p != "" {
		return p
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(cache, "tend", "kube", Version, "kube-apiserver")
}

// controllerManagerBinary is where tools/kube/build.sh leaves kube-controller-manager.
func controllerManagerBinary() string {
	if p := os.Getenv("TEND_KUBE_CONTROLLER_MANAGER"); p != "" {
		return p
	}
	return filepath.Join(filepath.Dir(apiserverBinary()), "kube-controller-manager")
}

// cluster is a kube-apiserver with its etcd, both on loopback, for one test.
type cluster struct {
	URL   string
	Token string
	// Kubeconfig is a kubeconfig file for the cluster's admin (the token).
	Kubeconfig string
	dir        string
	client     *http.Client
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	bin := apiserverBinary()
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("kube-apiserver %s is not built (bash tools/kube/build.sh builds it; .ci/run does): %v", Version, err)
	}
	dir := t.TempDir()
	etcdURL := startEtcd(t, dir)

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "sa.key")
	pubFile := filepath.Join(dir, "sa.pub")
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
	os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600)
	token := "tend-test-token"
	tokens := filepath.Join(dir, "tokens.csv")
	os.WriteFile(tokens, []byte(token+",admin,admin,system:masters\n"), 0o600)
	addr, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(addr, ":")
	log, exited := startProcess(t, "kube-apiserver", bin,
		"--etcd-servers="+etcdURL, "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+port,
		"--cert-dir="+filepath.Join(dir, "certs"), "--token-auth-file="+tokens, "--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc", "--service-account-key-file="+pubFile,
		"--service-account-signing-key-file="+keyFile, "--service-cluster-ip-range=10.96.0.0/16",
		// the kubernetes Service's endpoints would be 127.0.0.1, which the reconciler refuses
		"--endpoint-reconciler-type=none", "--enable-priority-and-fairness=false", "--v=0")
	c := &cluster{URL: "https://" + addr, Token: token, dir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig"), client: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}} // its own self-signed certificate, on loopback
	deadline := time.Now().Add(2 * time.Minute)
	for {
		code, body, err := c.do("GET", "/readyz", "", nil)
		if err == nil && code == 200 {
			break
		}
		select {
		case <-exited:
			t.Fatalf("kube-apiserver exited while starting:\n%s", tail(log.String(), 4096))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("kube-apiserver not ready within 2 minutes: %d %s %v", code, body, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: %q, insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: %q}}]
contexts: [{name: test, context: {cluster: test, user: admin}}]
current-context: test
`, c.URL, token)
	if err := os.WriteFile(c.Kubeconfig, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

// startControllerManager runs kube-controller-manager's Deployment and ReplicaSet
// controllers against the cluster: Deployments become ReplicaSets, ReplicaSets pods.
func (c *cluster) startControllerManager(t *testing.T) {
	t.Helper()
	bin := controllerManagerBinary()
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("kube-controller-manager %s is not built (bash tools/kube/build.sh builds it; .ci/run does): %v", Version, err)
	}
	log, exited := startProcess(t, "kube-controller-manager", bin, "--kubeconfig="+c.Kubeconfig, "--controllers=deployment-controller,replicaset-controller",
		"--leader-elect=false", "--secure-port=0", "--concurrent-deployment-syncs=5", "--concurrent-replicaset-syncs=5", "--v=0")
	time.Sleep(time.Second)
	select {
	case <-exited:
		t.Fatalf("kube-controller-manager exited at start:\n%s", tail(log.String(), 4096))
	default:
	}
}

// startProcess runs a control plane binary until the test ends; its log is shown when
// the test fails, and exited closes when it ends.
func startProcess(t *testing.T, name, bin string, args ...string) (*harness.LockedBuffer, chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	log := &harness.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("%s log (last 4 KiB):\n%s", name, tail(log.String(), 4096))
		}
	})
	return log, exited
}

func startEtcd(t *testing.T, dir string) string {
	t.Helper()
	client, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	peer, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	cfg := embed.NewConfig()
	cfg.Dir = filepath.Join(dir, "etcd")
	cfg.Name = "kube"
	cu, pu := url.URL{Scheme: "http", Host: client}, url.URL{Scheme: "http", Host: peer}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.InitialCluster = cfg.Name + "=" + pu.String()
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(time.Minute):
		t.Fatal("etcd not ready")
	}
	return cu.String()
}

// do sends a request with the token and returns status and body.
func (c *cluster) do(method, path, contentType string, body []byte) (int, string, error) {
	req, err := http.NewRequest(method, c.URL+path, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// apply sends one object with server-side apply (dryRun: with dryRun=All).
func (c *cluster) apply(obj map[string]any, dryRun bool) (int, string, error) {
	path, err := resourcePath(obj)
	if err != nil {
		return 0, "", err
	}
	q := "?fieldManager=tend&force=true"
	if dryRun {
		q += "&dryRun=All"
	}
	b, _ := json.Marshal(obj)
	return c.do("PATCH", path+q, "application/apply-patch+yaml", b)
}

// plurals are the resources of the kinds tend writes.
var plurals = map[string]string{"ServiceAccount": "serviceaccounts", "ConfigMap": "configmaps", "Deployment": "deployments",
	"Service": "services", "Ingress": "ingresses", "PodDisruptionBudget": "poddisruptionbudgets", "NetworkPolicy": "networkpolicies",
	"Namespace": "namespaces", "HorizontalPodAutoscaler": "horizontalpodautoscalers", "Secret": "secrets",
	"HTTPRoute": "httproutes", "CustomResourceDefinition": "customresourcedefinitions", "ResourceQuota": "resourcequotas"}

func resourcePath(obj map[string]any) (string, error) {
	kind, _ := obj["kind"].(string)
	apiVersion, _ := obj["apiVersion"].(string)
	meta, _ := obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	ns, _ := meta["namespace"].(string)
	plural, ok := plurals[kind]
	if !ok {
		return "", fmt.Errorf("no resource for kind %q", kind)
	}
	prefix := "/apis/" + apiVersion
	if !strings.Contains(apiVersion, "/") {
		prefix = "/api/" + apiVersion
	}
	if ns != "" {
		prefix += "/namespaces/" + ns
	}
	return prefix + "/" + plural + "/" + name, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
