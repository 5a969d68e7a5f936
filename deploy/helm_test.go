package deploy

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// kubeVersion is the cluster the chart is rendered for, as helm would learn
// it from the API server.
var kubeVersion = chartutil.KubeVersion{Version: "v1.30.0", Major: "1", Minor: "30"}

const (
	chartDir    = "helm/flusso"
	releaseName = "stays"
	namespace   = "search"
)

// release is a rendered chart, every manifest decoded into its type.
type release struct {
	chart        *chart.Chart
	values       map[string]any                // as given, before the chart's defaults
	deployments  map[string]*appsv1.Deployment // by component
	services     map[string]*corev1.Service    // by name
	configMaps   []*corev1.ConfigMap
	secrets      []*corev1.Secret
	hpas         []*autoscalingv2.HorizontalPodAutoscaler
	monitors     []*unstructured.Unstructured
	notes        string
	manifestSeen int
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load the chart: %v", err)
	}
	return c
}

// renderChart renders the chart as `helm install` would, templates in strict
// mode (a missing value is an error, not an empty string).
func renderChart(t *testing.T, vals map[string]any, name string) (map[string]string, error) {
	t.Helper()
	c := loadChart(t)
	if vals == nil {
		vals = map[string]any{}
	}
	if err := chartutil.ProcessDependenciesWithMerge(c, vals); err != nil {
		return nil, fmt.Errorf("dependencies: %w", err)
	}
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = kubeVersion
	top, err := chartutil.ToRenderValues(c, vals, chartutil.ReleaseOptions{
		Name: name, Namespace: namespace, Revision: 1, IsInstall: true,
	}, caps)
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	return engine.Engine{Strict: true}.Render(c, top)
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// render renders the chart and decodes every manifest strictly: a field
// unknown to its Kubernetes type, or a kind this chart should not make, fails.
func render(t *testing.T, vals map[string]any) *release {
	t.Helper()
	out, err := renderChart(t, vals, releaseName)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	r := &release{
		chart:       loadChart(t),
		values:      vals,
		deployments: map[string]*appsv1.Deployment{},
		services:    map[string]*corev1.Service{},
	}
	for _, file := range slices.Sorted(maps.Keys(out)) {
		content := out[file]
		switch {
		case strings.HasSuffix(file, "NOTES.txt"):
			r.notes = content
			continue
		case !strings.HasSuffix(file, ".yaml"):
			t.Errorf("%s: a template that is neither YAML nor NOTES.txt", file)
			continue
		}
		for i, doc := range docSeparator.Split(content, -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			r.decode(t, fmt.Sprintf("%s#%d", file, i), []byte(doc))
		}
	}
	return r
}

func stripComments(doc string) string {
	var b strings.Builder
	for line := range strings.Lines(doc) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
		}
	}
	return b.String()
}

func (r *release) decode(t *testing.T, where string, doc []byte) {
	t.Helper()
	if strings.Contains(string(doc), "<no value>") {
		t.Errorf("%s: a template printed a missing value:\n%s", where, doc)
	}
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		t.Errorf("%s: not YAML: %v\n%s", where, err, doc)
		return
	}
	strict := func(into any) bool {
		if err := yaml.UnmarshalStrict(doc, into); err != nil {
			t.Errorf("%s: %s %s does not decode strictly: %v\n%s", where, tm.APIVersion, tm.Kind, err, doc)
			return false
		}
		return true
	}
	r.manifestSeen++
	var meta metav1.Object
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		var d appsv1.Deployment
		if !strict(&d) {
			return
		}
		component := d.Labels["app.kubernetes.io/component"]
		if r.deployments[component] != nil {
			t.Errorf("%s: a second Deployment of component %q", where, component)
		}
		r.deployments[component] = &d
		meta = &d
	case "v1 Service":
		var s corev1.Service
		if !strict(&s) {
			return
		}
		r.services[s.Name] = &s
		meta = &s
		for _, msg := range validation.IsDNS1035Label(s.Name) {
			t.Errorf("%s: Service name %q: %s", where, s.Name, msg)
		}
	case "v1 ConfigMap":
		var c corev1.ConfigMap
		if !strict(&c) {
			return
		}
		r.configMaps = append(r.configMaps, &c)
		meta = &c
	case "v1 Secret":
		var s corev1.Secret
		if !strict(&s) {
			return
		}
		r.secrets = append(r.secrets, &s)
		meta = &s
	case "autoscaling/v2 HorizontalPodAutoscaler":
		var h autoscalingv2.HorizontalPodAutoscaler
		if !strict(&h) {
			return
		}
		r.hpas = append(r.hpas, &h)
		meta = &h
	case "monitoring.coreos.com/v1 ServiceMonitor":
		// No Go types here for the Prometheus Operator's resources: check
		// the fields its CRD requires by hand.
		var m map[string]any
		if err := yaml.UnmarshalStrict(doc, &m); err != nil {
			t.Errorf("%s: %v", where, err)
			return
		}
		u := &unstructured.Unstructured{Object: m}
		r.monitors = append(r.monitors, u)
		meta = u
	default:
		t.Errorf("%s: unexpected manifest %s %s", where, tm.APIVersion, tm.Kind)
		return
	}
	for _, msg := range validation.IsDNS1123Subdomain(meta.GetName()) {
		t.Errorf("%s: name %q: %s", where, meta.GetName(), msg)
	}
	if ns := meta.GetNamespace(); ns != "" && ns != namespace {
		t.Errorf("%s: namespace %q, want the release's (unset)", where, ns)
	}
	checkLabels(t, where, meta.GetLabels())
}

func checkLabels(t *testing.T, where string, labels map[string]string) {
	t.Helper()
	for k, v := range labels {
		for _, msg := range validation.IsQualifiedName(k) {
			t.Errorf("%s: label key %q: %s", where, k, msg)
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			t.Errorf("%s: label %s value %q: %s", where, k, v, msg)
		}
	}
}

// value reads a dotted path of the values given to render ("" when unset).
func (r *release) value(path string) any {
	var cur any = r.values
	for part := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

func (r *release) secretName() string {
	if s, _ := r.value("secrets.existingSecret").(string); s != "" {
		return s
	}
	return releaseName + "-flusso"
}

func (r *release) configMapName() string {
	if s, _ := r.value("config.existingConfigMap").(string); s != "" {
		return s
	}
	return releaseName + "-flusso-config"
}

func (r *release) deployment(t *testing.T, component string) *appsv1.Deployment {
	t.Helper()
	d := r.deployments[component]
	if d == nil {
		t.Fatalf("no Deployment of component %q; have %v", component, keys(r.deployments))
	}
	return d
}

func container(t *testing.T, d *appsv1.Deployment) *corev1.Container {
	t.Helper()
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("Deployment %s has %d containers, want 1", d.Name, n)
	}
	return &d.Spec.Template.Spec.Containers[0]
}

func envVar(c *corev1.Container, name string) *corev1.EnvVar {
	var found *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == name {
			found = &c.Env[i] // the last one wins in Kubernetes too
		}
	}
	return found
}

// wantSecretEnv checks that name comes from key name of the release's Secret.
func (r *release) wantSecretEnv(t *testing.T, c *corev1.Container, name string) {
	t.Helper()
	e := envVar(c, name)
	switch {
	case e == nil:
		t.Errorf("container %s: no variable %s", c.Name, name)
	case e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil:
		t.Errorf("container %s: %s does not come from a Secret: %+v", c.Name, name, e)
	case e.ValueFrom.SecretKeyRef.Name != r.secretName() || e.ValueFrom.SecretKeyRef.Key != name:
		t.Errorf("container %s: %s comes from %s/%s, want %s/%s", c.Name, name,
			e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key, r.secretName(), name)
	}
}

func wantPlainEnv(t *testing.T, c *corev1.Container, name, value string) {
	t.Helper()
	e := envVar(c, name)
	switch {
	case e == nil:
		t.Errorf("container %s: no variable %s", c.Name, name)
	case e.ValueFrom != nil || e.Value != value:
		t.Errorf("container %s: %s = %q (from %+v), want %q", c.Name, name, e.Value, e.ValueFrom, value)
	}
}

// checkInvariants holds for every combination of values.
func (r *release) checkInvariants(t *testing.T) {
	t.Helper()
	appVersion := r.chart.Metadata.AppVersion
	for _, component := range []string{"capture", "indexer", "status"} {
		d := r.deployment(t, component)
		pod := d.Spec.Template
		where := "Deployment " + d.Name

		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil {
			t.Errorf("%s: selector: %v", where, err)
		} else if !sel.Matches(k8slabels.Set(pod.Labels)) {
			t.Errorf("%s: selector %v does not match its pod labels %v", where, d.Spec.Selector, pod.Labels)
		}
		checkLabels(t, where+" pod", pod.Labels)

		ps := pod.Spec.SecurityContext
		if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot {
			t.Errorf("%s: the pod does not require runAsNonRoot: %+v", where, ps)
		}
		if a := pod.Spec.AutomountServiceAccountToken; a == nil || *a {
			t.Errorf("%s: the pod mounts a service account token it does not use", where)
		}

		c := container(t, d)
		if want := "ghcr.io/flusso-go/flusso-" + component + ":" + appVersion; c.Image != want && r.value(component+".image") == nil {
			t.Errorf("%s: image %q, want %q", where, c.Image, want)
		}
		sc := c.SecurityContext
		switch {
		case sc == nil:
			t.Errorf("%s: no container securityContext", where)
		default:
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("%s: the root filesystem is writable", where)
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("%s: privilege escalation is allowed", where)
			}
			if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
				t.Errorf("%s: capabilities are not all dropped: %+v", where, sc.Capabilities)
			}
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
			t.Errorf("%s: no CPU or memory request: %+v", where, c.Resources)
		}

		// The config: the ConfigMap at /config, read-only, named by FLUSSO_CONFIG.
		var cmVolume string
		for _, v := range pod.Spec.Volumes {
			if v.ConfigMap != nil && v.ConfigMap.Name == r.configMapName() {
				cmVolume = v.Name
			}
		}
		if cmVolume == "" {
			t.Errorf("%s: no volume of ConfigMap %s: %+v", where, r.configMapName(), pod.Spec.Volumes)
		}
		mounted := false
		for _, m := range c.VolumeMounts {
			if m.Name == cmVolume && m.MountPath == "/config" && m.ReadOnly {
				mounted = true
			}
		}
		if !mounted {
			t.Errorf("%s: the config volume is not mounted read-only at /config: %+v", where, c.VolumeMounts)
		}
		wantPlainEnv(t, c, "FLUSSO_CONFIG", "/config/flusso.toml")
		if e := envVar(c, "FLUSSO_NATS_URL"); e == nil || !strings.HasPrefix(e.Value, "nats://") {
			t.Errorf("%s: FLUSSO_NATS_URL is not a nats:// URL: %+v", where, e)
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name != r.secretName() {
				t.Errorf("%s: %s from Secret %s, want %s", where, e.Name, e.ValueFrom.SecretKeyRef.Name, r.secretName())
			}
		}
		if _, ok := pod.Annotations["checksum/config"]; ok == (r.value("config.existingConfigMap") != nil) {
			t.Errorf("%s: checksum/config annotation present = %v with existingConfigMap = %v", where, ok, r.value("config.existingConfigMap"))
		}

		if component != "status" {
			// No HTTP surface and no shell in the image: nothing to probe.
			if c.LivenessProbe != nil || c.ReadinessProbe != nil {
				t.Errorf("%s: probes on a service without an HTTP surface", where)
			}
			r.wantSecretEnv(t, c, "DATABASE_URL")
		}
	}

	r.checkStatus(t)

	// The config the services mount.
	switch {
	case r.value("config.existingConfigMap") != nil:
		if len(r.configMaps) != 0 {
			t.Errorf("a ConfigMap rendered besides existingConfigMap")
		}
	case len(r.configMaps) != 1:
		t.Errorf("%d ConfigMaps, want 1", len(r.configMaps))
	default:
		cm := r.configMaps[0]
		if cm.Name != r.configMapName() {
			t.Errorf("ConfigMap %s, want %s", cm.Name, r.configMapName())
		}
		cfg := loadConfig(t, cm.Data)
		for _, ix := range cfg.Indexes {
			if _, ok := cm.Data[filepath.Base(ix.SchemaPath)]; !ok {
				t.Errorf("ConfigMap %s lacks the schema %s of index %s", cm.Name, ix.SchemaPath, ix.Name)
			}
		}
		// Every variable the config names reaches the services reading it.
		env := envOf(cfg)
		for _, v := range env.pipeline {
			r.wantSecretEnvSomehow(t, container(t, r.deployment(t, "capture")), v)
			r.wantSecretEnvSomehow(t, container(t, r.deployment(t, "indexer")), v)
		}
		for _, v := range env.indexer {
			r.wantSecretEnvSomehow(t, container(t, r.deployment(t, "indexer")), v)
		}
		for _, v := range env.status {
			r.wantSecretEnvSomehow(t, container(t, r.deployment(t, "status")), v)
		}
	}

	// The Secret, when the chart makes it: each key is read by some pod.
	switch {
	case r.value("secrets.existingSecret") != nil:
		if len(r.secrets) != 0 {
			t.Errorf("a Secret rendered besides existingSecret")
		}
	case len(r.secrets) != 1:
		t.Errorf("%d Secrets, want 1", len(r.secrets))
	default:
		s := r.secrets[0]
		if s.Name != r.secretName() {
			t.Errorf("Secret %s, want %s", s.Name, r.secretName())
		}
		if s.StringData["FLUSSO_STATUS_TOKEN"] == "" {
			t.Errorf("Secret %s: no status token", s.Name)
		}
		read := map[string]bool{}
		for _, d := range r.deployments {
			for _, e := range container(t, d).Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					read[e.ValueFrom.SecretKeyRef.Key] = true
				}
			}
		}
		for k := range s.StringData {
			if !read[k] {
				t.Errorf("Secret %s: key %s is read by no service", s.Name, k)
			}
			for _, msg := range validation.IsConfigMapKey(k) {
				t.Errorf("Secret %s: key %q: %s", s.Name, k, msg)
			}
		}
	}

	if !strings.Contains(r.notes, "port-forward svc/"+releaseName+"-flusso-status ") {
		t.Errorf("NOTES.txt does not say how to reach the status:\n%s", r.notes)
	}
}

// wantSecretEnvSomehow checks that a variable is set for the container from
// the Secret, or as a plain value.
func (r *release) wantSecretEnvSomehow(t *testing.T, c *corev1.Container, name string) {
	t.Helper()
	if e := envVar(c, name); e == nil {
		t.Errorf("container %s: the config needs %s, which is not set", c.Name, name)
	} else if e.ValueFrom != nil {
		r.wantSecretEnv(t, c, name)
	}
}

func (r *release) checkStatus(t *testing.T) {
	t.Helper()
	d := r.deployment(t, "status")
	c := container(t, d)
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["public"] != 9464 || ports["private"] != 9465 {
		t.Errorf("status container ports %v, want public 9464 and private 9465", ports)
	}
	wantPlainEnv(t, c, "FLUSSO_SERVER_PUBLIC_ADDRESS", "0.0.0.0:9464")
	wantPlainEnv(t, c, "FLUSSO_SERVER_PRIVATE_ADDRESS", "0.0.0.0:9465")
	r.wantSecretEnv(t, c, "FLUSSO_STATUS_TOKEN")
	if e := envVar(c, "DATABASE_URL"); e != nil {
		t.Errorf("the status service gets the database URL it does not need")
	}
	probe := func(kind string, p *corev1.Probe, path string) {
		switch {
		case p == nil || p.HTTPGet == nil:
			t.Errorf("status: no HTTP %s probe: %+v", kind, p)
		case p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "public":
			t.Errorf("status: %s probe on %s port %s, want %s on public", kind, p.HTTPGet.Path, p.HTTPGet.Port.String(), path)
		}
	}
	probe("liveness", c.LivenessProbe, "/healthz")
	probe("readiness", c.ReadinessProbe, "/readyz")

	pods := d.Spec.Template.Labels
	for name, want := range map[string]struct {
		port   string
		number int32
	}{
		releaseName + "-flusso-status":         {"public", 9464},
		releaseName + "-flusso-status-private": {"private", 9465},
	} {
		s := r.services[name]
		if s == nil {
			t.Errorf("no Service %s; have %v", name, keys(r.services))
			continue
		}
		if len(s.Spec.Selector) == 0 || !labelSelectorMatches(s.Spec.Selector, pods) {
			t.Errorf("Service %s: selector %v does not select the status pods %v", name, s.Spec.Selector, pods)
		}
		if len(s.Spec.Ports) != 1 || s.Spec.Ports[0].Port != want.number || s.Spec.Ports[0].TargetPort.String() != want.port {
			t.Errorf("Service %s: ports %+v, want %d → %s", name, s.Spec.Ports, want.number, want.port)
		}
		if want.port == "private" && s.Spec.Type != corev1.ServiceTypeClusterIP {
			t.Errorf("Service %s: type %s, want ClusterIP", name, s.Spec.Type)
		}
		if !s.Spec.PublishNotReadyAddresses {
			t.Errorf("Service %s: a status pod that is not ready (pipeline down) would be unreachable", name)
		}
	}
	if len(r.services) != 2 {
		t.Errorf("Services %v, want the status public and private ones", keys(r.services))
	}
}

func labelSelectorMatches(selector, labels map[string]string) bool {
	return k8slabels.SelectorFromSet(selector).Matches(k8slabels.Set(labels))
}

func TestChartMetadata(t *testing.T) {
	c := loadChart(t)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Metadata.APIVersion != chart.APIVersionV2 || c.Metadata.AppVersion == "" {
		t.Errorf("Chart.yaml: apiVersion %q appVersion %q, want v2 and an appVersion", c.Metadata.APIVersion, c.Metadata.AppVersion)
	}
	if !chartutil.IsCompatibleRange(c.Metadata.KubeVersion, kubeVersion.String()) {
		t.Errorf("kubeVersion %q excludes Kubernetes %s", c.Metadata.KubeVersion, kubeVersion)
	}
	if chartutil.IsCompatibleRange(c.Metadata.KubeVersion, "v1.22.0") {
		t.Errorf("kubeVersion %q admits Kubernetes 1.22, which has no autoscaling/v2", c.Metadata.KubeVersion)
	}
	var nats *chart.Dependency
	for _, d := range c.Metadata.Dependencies {
		if d.Name == "nats" {
			nats = d
		}
	}
	if nats == nil || nats.Condition != "nats.enabled" || nats.Repository == "" {
		t.Errorf("Chart.yaml: want the NATS chart as a dependency on condition nats.enabled, got %+v", nats)
	}
	if enabled, _ := c.Values["nats"].(map[string]any)["enabled"].(bool); enabled {
		t.Errorf("values.yaml: nats.enabled is on by default, so the chart needs `helm dependency build` before anything")
	}
}

// The chart's default config is the holiday-stays example: its copy in the
// chart must not drift from examples/.
func TestChartExampleConfigMatchesExamples(t *testing.T) {
	examples := readExamples(t)
	paths, err := filepath.Glob(filepath.Join(chartDir, "files", "*"))
	if err != nil {
		t.Fatal(err)
	}
	chartFiles := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		chartFiles[filepath.Base(p)] = string(b)
	}
	for name, want := range examples {
		got, ok := chartFiles[name]
		switch {
		case !ok:
			t.Errorf("%s/files lacks examples/%s: cp examples/%s %s/files/", chartDir, name, name, chartDir)
		case got != want:
			t.Errorf("%s/files/%s differs from examples/%s: cp examples/%s %s/files/", chartDir, name, name, name, chartDir)
		}
	}
	for name := range chartFiles {
		if _, ok := examples[name]; !ok {
			t.Errorf("%s/files/%s is not in examples/: remove it", chartDir, name)
		}
	}
}

func TestChartRender(t *testing.T) {
	everything := map[string]any{
		"capture":        map[string]any{"standby": true},
		"indexer":        map[string]any{"autoscaling": map[string]any{"enabled": true, "minReplicas": 3, "maxReplicas": 12}},
		"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prometheus"}},
		"secrets":        map[string]any{"existingSecret": "stays-credentials"},
		"config":         map[string]any{"existingConfigMap": "stays-config"},
	}
	cases := []struct {
		name   string
		values map[string]any
		check  func(t *testing.T, r *release)
	}{
		{"defaults", nil, func(t *testing.T, r *release) {
			if n := replicas(r.deployment(t, "capture")); n != 1 {
				t.Errorf("capture replicas %d, want 1", n)
			}
			if n := replicas(r.deployment(t, "indexer")); n != 2 {
				t.Errorf("indexer replicas %d, want 2", n)
			}
			if len(r.hpas) != 0 || len(r.monitors) != 0 {
				t.Errorf("optional resources by default: %d HPA, %d ServiceMonitor", len(r.hpas), len(r.monitors))
			}
			if a := r.deployment(t, "capture").Spec.Template.Spec.Affinity; a != nil {
				t.Errorf("capture affinity without a standby: %+v", a)
			}
			// The example's sink needs its URL and both credentials variables.
			c := container(t, r.deployment(t, "indexer"))
			for _, v := range []string{"SEARCH_OPENSEARCH_URL", "SEARCH_USERNAME", "SEARCH_PASSWORD"} {
				r.wantSecretEnv(t, c, v)
			}
			s := r.secrets[0].StringData
			if _, ok := s["SEARCH_OPENSEARCH_USERNAME"]; ok {
				t.Errorf("an empty sink username is in the Secret, where it would override the file's")
			}
			if _, ok := s["SEARCH_USERNAME"]; !ok {
				t.Errorf("the variable the example's sink names is not in the Secret")
			}
			wantPlainEnv(t, c, "FLUSSO_NATS_URL", "nats://nats:4222")
			wantPlainEnv(t, c, "FLUSSO_LOG_FORMAT", "json")
			// The example's files reach the pods byte for byte.
			if got, want := r.configMaps[0].Data, readExamples(t); !maps.Equal(got, want) {
				t.Errorf("the ConfigMap holds %v, want the files of examples/ %v, unchanged", keys(got), keys(want))
			}
		}},
		{"standby", map[string]any{"capture": map[string]any{"standby": true}}, func(t *testing.T, r *release) {
			d := r.deployment(t, "capture")
			if n := replicas(d); n != 2 {
				t.Errorf("capture replicas %d with a standby, want 2", n)
			}
			a := d.Spec.Template.Spec.Affinity
			if a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
				t.Errorf("the capture and its standby are not spread: %+v", a)
			}
		}},
		{"autoscaling", map[string]any{"indexer": map[string]any{"autoscaling": map[string]any{"enabled": true}}}, func(t *testing.T, r *release) {
			checkHPA(t, r, 2, 10)
		}},
		{"serviceMonitor", map[string]any{"serviceMonitor": map[string]any{"enabled": true}}, checkServiceMonitor},
		{"existingSecret", map[string]any{"secrets": map[string]any{"existingSecret": "stays-credentials"}}, func(t *testing.T, r *release) {
			if !strings.Contains(r.notes, "stays-credentials") {
				t.Errorf("NOTES.txt does not name the existing Secret")
			}
		}},
		{"existingConfigMap", map[string]any{"config": map[string]any{"existingConfigMap": "stays-config"}}, nil},
		{"config files", map[string]any{"config": map[string]any{"files": map[string]any{
			"flusso.toml":      "[source]\ntype = \"postgres\"\nconnection_url = { env = \"SHOP_DB\" }\n\n[[index]]\nname = \"items\"\nschema = \"items.schema.yml\"\n",
			"items.schema.yml": "version: 1\ntable: items\nprimary_key: id\nfields:\n  - long: id\n    required: true\n",
		}}, "secrets": map[string]any{"env": map[string]any{"SHOP_DB": "postgres://shop@db/shop"}}}, func(t *testing.T, r *release) {
			if _, ok := r.configMaps[0].Data["listings.schema.yml"]; ok {
				t.Errorf("the example's files are in the ConfigMap besides config.files")
			}
		}},
		{"everything", everything, func(t *testing.T, r *release) {
			if n := replicas(r.deployment(t, "capture")); n != 2 {
				t.Errorf("capture replicas %d with a standby, want 2", n)
			}
			checkHPA(t, r, 3, 12)
			checkServiceMonitor(t, r)
			if got := r.monitors[0].GetLabels()["release"]; got != "prometheus" {
				t.Errorf("ServiceMonitor labels lack serviceMonitor.labels: %v", r.monitors[0].GetLabels())
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := render(t, tc.values)
			r.checkInvariants(t)
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

func replicas(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1 // the API's default
	}
	return *d.Spec.Replicas
}

func checkHPA(t *testing.T, r *release, minReplicas, maxReplicas int32) {
	t.Helper()
	if len(r.hpas) != 1 {
		t.Fatalf("%d HorizontalPodAutoscalers, want 1", len(r.hpas))
	}
	h := r.hpas[0]
	indexer := r.deployment(t, "indexer")
	ref := h.Spec.ScaleTargetRef
	if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != indexer.Name {
		t.Errorf("HPA targets %+v, want the indexer Deployment %s", ref, indexer.Name)
	}
	if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas != minReplicas || h.Spec.MaxReplicas != maxReplicas {
		t.Errorf("HPA replicas %v..%d, want %d..%d", h.Spec.MinReplicas, h.Spec.MaxReplicas, minReplicas, maxReplicas)
	}
	if len(h.Spec.Metrics) != 1 || h.Spec.Metrics[0].Resource == nil || h.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU ||
		h.Spec.Metrics[0].Resource.Target.Type != autoscalingv2.UtilizationMetricType {
		t.Errorf("HPA metrics %+v, want CPU utilization", h.Spec.Metrics)
	}
	if indexer.Spec.Replicas != nil {
		t.Errorf("the indexer Deployment sets replicas (%d) that the HPA owns", *indexer.Spec.Replicas)
	}
	for _, d := range r.deployments {
		if d != indexer && d.Name == ref.Name {
			t.Errorf("the HPA's target name is also %s's", d.Labels["app.kubernetes.io/component"])
		}
	}
}

func checkServiceMonitor(t *testing.T, r *release) {
	t.Helper()
	if len(r.monitors) != 1 {
		t.Fatalf("%d ServiceMonitors, want 1", len(r.monitors))
	}
	m := r.monitors[0]
	if m.GetAPIVersion() != "monitoring.coreos.com/v1" || m.GetKind() != "ServiceMonitor" {
		t.Errorf("ServiceMonitor is %s %s", m.GetAPIVersion(), m.GetKind())
	}
	matchLabels, found, err := unstructured.NestedStringMap(m.Object, "spec", "selector", "matchLabels")
	if err != nil || !found || len(matchLabels) == 0 {
		t.Fatalf("ServiceMonitor spec.selector.matchLabels: %v %v", matchLabels, err)
	}
	var selected []string
	for name, s := range r.services {
		if labelSelectorMatches(matchLabels, s.Labels) {
			selected = append(selected, name)
		}
	}
	if want := releaseName + "-flusso-status"; len(selected) != 1 || selected[0] != want {
		t.Errorf("ServiceMonitor selects Services %v, want only %s", selected, want)
	}
	endpoints, found, err := unstructured.NestedSlice(m.Object, "spec", "endpoints")
	if err != nil || !found || len(endpoints) != 1 {
		t.Fatalf("ServiceMonitor spec.endpoints: %v %v", endpoints, err)
	}
	ep, _ := endpoints[0].(map[string]any)
	if ep["port"] != "public" || ep["path"] != "/metrics" {
		t.Errorf("ServiceMonitor endpoint %v, want port public path /metrics", ep)
	}
	for _, field := range []string{"interval", "scrapeTimeout"} {
		if v, _ := ep[field].(string); !regexp.MustCompile(`^[0-9]+(ms|s|m|h)$`).MatchString(v) {
			t.Errorf("ServiceMonitor endpoint %s %q is not a Prometheus duration", field, v)
		}
	}
}

// Enabling the NATS chart without fetching it must say what to do.
func TestChartNATSDependencyMissing(t *testing.T) {
	if _, err := os.Stat(filepath.Join(chartDir, "charts")); err == nil {
		t.Skip("charts/ exists: the NATS chart was fetched, so rendering with it is helm's job")
	}
	_, err := renderChart(t, map[string]any{"nats": map[string]any{"enabled": true}}, releaseName)
	if err == nil || !strings.Contains(err.Error(), "helm dependency build") {
		t.Fatalf("nats.enabled without the NATS chart: err = %v, want one saying to run helm dependency build", err)
	}
}

func TestChartRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"no NATS", map[string]any{"nats": map[string]any{"url": ""}}, "set nats.url"},
		{"autoscaling without a CPU request",
			map[string]any{"indexer": map[string]any{"autoscaling": map[string]any{"enabled": true}, "resources": map[string]any{"requests": map[string]any{"cpu": nil}}}},
			"indexer.resources.requests.cpu"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := renderChart(t, tc.values, releaseName)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// Names stay valid whatever the release is called.
func TestChartNames(t *testing.T) {
	for _, name := range []string{"flusso", "a-very-long-release-name-for-the-holiday-stays-search-pipeline"} {
		t.Run(name, func(t *testing.T) {
			out, err := renderChart(t, nil, name)
			if err != nil {
				t.Fatal(err)
			}
			for file, content := range out {
				if strings.HasSuffix(file, "NOTES.txt") {
					continue
				}
				for _, doc := range docSeparator.Split(content, -1) {
					var obj struct {
						Kind     string            `json:"kind"`
						Metadata metav1.ObjectMeta `json:"metadata"`
					}
					if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
						t.Fatal(err)
					}
					if obj.Kind == "" {
						continue
					}
					if msgs := validation.IsDNS1035Label(obj.Metadata.Name); len(msgs) > 0 {
						t.Errorf("%s %q: %v", obj.Kind, obj.Metadata.Name, msgs)
					}
					if name == "flusso" && strings.Contains(obj.Metadata.Name, "flusso-flusso") {
						t.Errorf("%s %q repeats the chart name", obj.Kind, obj.Metadata.Name)
					}
				}
			}
		})
	}
}
