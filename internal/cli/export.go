package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/internal/k8s"
	"github.com/tendhq/tend/internal/spec"
)

func newExportCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write an app's spec in another system's format",
	}
	var file, image, namespace, gateway string
	var includeSecrets bool
	k := &cobra.Command{
		Use:   "k8s",
		Short: "Print Kubernetes manifests that run the app as tend would",
		Long: `Print the Kubernetes objects for the app in tend.yaml, in apply order, as one YAML
stream: ServiceAccount, Secret (the app uses secrets), ConfigMap (env), ConfigMap
(files: from, APP-files), Deployment, Service, Ingress (route.hosts),
PodDisruptionBudget (more than one instance) and NetworkPolicy. The same spec gives the
same bytes, for GitOps.

Secrets: variables read their secret from the Secret APP-secrets (key: the secret's
name) with secretKeyRef. The Secret written names its keys (annotation
tend.dev/secret-keys) and holds no value, so applying it keeps the values you put
there (the command to do so is printed on stderr). With --include-secrets it holds the
current values, from the server (TEND_API, TEND_TOKEN), in base64: anyone who can read
the output can read them, so do not commit it.

Files: each file of files: is mounted read-only at its path under the container's
working dir (/, set when there are files), one subPath mount each: config files from
APP-files (mode 0444), secret files from APP-secrets (0400; the pod's fsGroup 65532
lets the user read them).

The Deployment runs the image as user 65532 with a read-only root filesystem (and an
emptyDir at /tmp), probes from health, resources as requests and limits, a preStop sleep
of shutdown.drain and terminationGracePeriodSeconds of grace + drain, Prometheus scrape
annotations from metrics, and spreads pods over nodes. PORT is 8080 and ADMIN_PORT 9090.
Canary and blue-green steps are not expressed in manifests: the Deployment rolls with a
plain rolling update. The NetworkPolicy lets in traffic from the ingress-nginx namespace
and tend's gateway pods, the admin port from the monitoring namespace, and out only DNS.

Autoscale: a spec with autoscale: gets an autoscaling/v2 HorizontalPodAutoscaler (the
Deployment then has no replicas, which the HPA owns): cpu and memory as Resource
utilization targets (of the requests, so set resources), rps as the Pods metric
http_requests_per_second and each custom target as an External metric of its name,
both of which a metrics adapter (prometheus-adapter) must serve; the behavior as the
spec has it, with the HPA's defaults filled in.

With --http-route GATEWAY (NAME or NAMESPACE/NAME of a Gateway API Gateway) the route is
an HTTPRoute attached to that Gateway instead of an Ingress, and the NetworkPolicy lets in
the Gateway's namespace instead of ingress-nginx.`,
		Example: `  tend export k8s -f tend.yaml --image registry.example.com/hello:v1 | kubectl apply --server-side -f -
  tend export k8s -f tend.yaml --http-route infra/public
  tend export k8s -f tend.yaml --include-secrets | kubectl apply --server-side -f -
  tend build image -f tend.yaml --push registry.example.com/hello:v1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			app, err := spec.Load(file)
			if err != nil {
				return &exitCodeError{code: exitInvalid, err: err}
			}
			if err := app.ReadFiles(); err != nil {
				return &exitCodeError{code: exitInvalid, err: err}
			}
			o := k8s.Options{Image: image, Namespace: namespace, Gateway: gateway}
			names := app.SecretNames()
			if includeSecrets && len(names) > 0 {
				if o.SecretValues, err = revealSecrets(cmd, g, app.App, names); err != nil {
					return err
				}
			}
			y, err := k8s.YAML(k8s.Manifests(app, o))
			if err != nil {
				return err
			}
			secretName := k8s.SecretName(app.App)
			switch {
			case len(names) == 0:
			case o.SecretValues != nil:
				fmt.Fprintf(cmd.ErrOrStderr(), "tend: warning: the Secret %s below holds the values of %s in base64, which is not encryption: do not commit it or leave it where others can read it\n",
					secretName, strings.Join(names, ", "))
			default:
				var lits []string
				for _, n := range names {
					lits = append(lits, "--from-literal="+n+"=...")
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "tend: the pods read secrets %s from the Secret %s, which these manifests name without values (or rerun with --include-secrets); put them there with:\n  kubectl create secret generic %s %s --dry-run=client -o yaml | kubectl apply --server-side --field-manager=secret-values -f -\n",
					strings.Join(names, ", "), secretName, secretName, strings.Join(lits, " "))
			}
			if as := app.Autoscale; as != nil {
				if as.Targets.CPU > 0 && app.Resources.MilliCPU == 0 {
					fmt.Fprintln(cmd.ErrOrStderr(), "tend: warning: the HPA's cpu target is a share of the pods' CPU request, and the spec sets no resources.cpu: the HPA will report \"missing request for cpu\" until it does")
				}
				if as.Targets.RPS > 0 || len(as.Targets.Custom) > 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "tend: the HPA scales on metrics Kubernetes does not have by itself (%s): a metrics adapter such as prometheus-adapter must serve them\n", strings.Join(adapterMetrics(as), ", "))
				}
			}
			if len(app.Backups) > 0 {
				names := make([]string, len(app.Backups))
				for i, b := range app.Backups {
					names[i] = b.Name
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "tend: the spec's backups (%s) are not in these manifests: tend server runs them (tend server --runtime kubernetes included), or run pg_dump from a CronJob of your own\n", strings.Join(names, ", "))
			}
			_, err = cmd.OutOrStdout().Write(y)
			return err
		},
	}
	k.Flags().StringVarP(&file, "file", "f", "tend.yaml", "the app's spec")
	k.Flags().StringVar(&image, "image", "", "the container image (default APP:latest)")
	k.Flags().StringVarP(&namespace, "namespace", "n", "", "the namespace of every object (default: none, kubectl's current)")
	k.Flags().StringVar(&gateway, "http-route", "", "write a Gateway API HTTPRoute attached to this Gateway (NAME or NAMESPACE/NAME) instead of an Ingress")
	k.Flags().BoolVar(&includeSecrets, "include-secrets", false, "write the secrets' current values (from the server) into the Secret, in base64")
	cmd.AddCommand(k)
	return cmd
}

// adapterMetrics names the custom and external metrics an exported HPA needs, with the
// query each one stands for.
func adapterMetrics(as *spec.Autoscale) []string {
	var out []string
	if as.Targets.RPS > 0 {
		out = append(out, "pods/"+k8s.RequestsMetric+" (each pod's requests per second)")
	}
	for _, c := range as.Targets.Custom {
		out = append(out, fmt.Sprintf("external/%s (%s)", k8s.MetricName(c.Name), c.Query))
	}
	return out
}

// revealSecrets gets the current values of app's secrets from the server.
func revealSecrets(cmd *cobra.Command, g *globals, app string, names []string) (map[string][]byte, error) {
	c, err := g.client()
	if err != nil {
		return nil, err
	}
	r, err := c.RevealSecrets(cmd.Context(), app, names)
	if err != nil {
		return nil, fmt.Errorf("--include-secrets: read the values of %s from the server: %w", strings.Join(names, ", "), err)
	}
	return r.Values, nil
}
