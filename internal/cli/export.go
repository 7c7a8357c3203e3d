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
	k := &cobra.Command{
		Use:   "k8s",
		Short: "Print Kubernetes manifests that run the app as tend would",
		Long: `Print the Kubernetes objects for the app in tend.yaml, in apply order, as one YAML
stream: ServiceAccount, ConfigMap (env), Deployment, Service, Ingress (route.hosts),
PodDisruptionBudget (more than one instance) and NetworkPolicy. The same spec gives the
same bytes, for GitOps.

The Deployment runs the image as user 65532 with a read-only root filesystem (and an
emptyDir at /tmp), probes from health, resources as requests and limits, a preStop sleep
of shutdown.drain and terminationGracePeriodSeconds of grace + drain, Prometheus scrape
annotations from metrics, and spreads pods over nodes. PORT is 8080 and ADMIN_PORT 9090.
Canary and blue-green steps are not expressed in manifests: the Deployment rolls with a
plain rolling update. The NetworkPolicy lets in traffic from the ingress-nginx namespace
and tend's gateway pods, the admin port from the monitoring namespace, and out only DNS.

With --http-route GATEWAY (NAME or NAMESPACE/NAME of a Gateway API Gateway) the route is
an HTTPRoute attached to that Gateway instead of an Ingress, and the NetworkPolicy lets in
the Gateway's namespace instead of ingress-nginx.`,
		Example: `  tend export k8s -f tend.yaml --image registry.example.com/hello:v1 | kubectl apply --server-side -f -
  tend export k8s -f tend.yaml --http-route infra/public
  tend build image -f tend.yaml --push registry.example.com/hello:v1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			app, err := spec.Load(file)
			if err != nil {
				return &exitCodeError{code: exitInvalid, err: err}
			}
			y, err := k8s.YAML(k8s.Manifests(app, k8s.Options{Image: image, Namespace: namespace, Gateway: gateway}))
			if err != nil {
				return err
			}
			if len(app.Files) > 0 {
				return &exitCodeError{code: exitInvalid, err: app.FieldError("files", "tend export k8s does not write files (ConfigMap and Secret volumes) yet: remove files from the spec to export it, and mount them yourself")}
			}
			if names := app.SecretNames(); len(names) > 0 {
				var lits []string
				for _, n := range names {
					lits = append(lits, "--from-literal="+n+"=...")
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "tend: the pods read secrets %s from the Secret %s, which these manifests do not hold (tend never writes values out): kubectl create secret generic %s %s\n",
					strings.Join(names, ", "), k8s.SecretName(app.App), k8s.SecretName(app.App), strings.Join(lits, " "))
			}
			_, err = cmd.OutOrStdout().Write(y)
			return err
		},
	}
	k.Flags().StringVarP(&file, "file", "f", "tend.yaml", "the app's spec")
	k.Flags().StringVar(&image, "image", "", "the container image (default APP:latest)")
	k.Flags().StringVarP(&namespace, "namespace", "n", "", "the namespace of every object (default: none, kubectl's current)")
	k.Flags().StringVar(&gateway, "http-route", "", "write a Gateway API HTTPRoute attached to this Gateway (NAME or NAMESPACE/NAME) instead of an Ingress")
	cmd.AddCommand(k)
	return cmd
}
