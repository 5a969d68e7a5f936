{{/*
Names, labels and the pieces the three Deployments share.
*/}}

{{- define "flusso.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's base name. Kept to 48 characters so that the longest suffix
("-status-private") still fits a 63-character Service name.
*/}}
{{- define "flusso.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 48 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 48 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 48 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "flusso.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "flusso.labels" -}}
helm.sh/chart: {{ include "flusso.chart" . }}
app.kubernetes.io/name: {{ include "flusso.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: flusso
{{- end }}

{{/* Selector labels of one service: (dict "root" $ "component" "capture"). */}}
{{- define "flusso.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flusso.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "flusso.componentLabels" -}}
{{ include "flusso.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "flusso.configMapName" -}}
{{- default (printf "%s-config" (include "flusso.fullname" .)) .Values.config.existingConfigMap }}
{{- end }}

{{- define "flusso.secretName" -}}
{{- default (include "flusso.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* The files of the ConfigMap: config.files, or the example in files/. */}}
{{- define "flusso.configFiles" -}}
{{- if .Values.config.files }}
{{- range $name, $content := .Values.config.files }}
{{ $name }}: {{ $content | toString | quote }}
{{- end }}
{{- else }}
{{- range $path, $_ := .Files.Glob "files/*" }}
{{ base $path }}: {{ $.Files.Get $path | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The NATS the services use: the release's own when nats.enabled (the service
the NATS chart names after the release), else nats.url.
*/}}
{{- define "flusso.natsURL" -}}
{{- if .Values.nats.enabled }}
{{- if not (hasKey .Subcharts "nats") }}
{{- fail "nats.enabled needs the NATS chart in charts/: run `helm dependency build` on this chart first, or set nats.enabled=false and nats.url to an external NATS" }}
{{- end }}
{{- $svc := ternary .Release.Name (printf "%s-nats" .Release.Name) (contains "nats" .Release.Name) }}
{{- printf "nats://%s:4222" ($svc | trunc 63 | trimSuffix "-") }}
{{- else if .Values.nats.url }}
{{- .Values.nats.url }}
{{- else }}
{{- fail "no NATS: set nats.url to a NATS server with JetStream, or nats.enabled=true" }}
{{- end }}
{{- end }}

{{- define "flusso.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) }}
{{- end }}

{{/* A secret variable, left unset when its key is absent. */}}
{{- define "flusso.secretEnvVar" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "flusso.secretName" .root }}
      key: {{ .name }}
      optional: true
{{- end }}

{{/* Environment of every service: config path, NATS and the plain env. */}}
{{- define "flusso.commonEnv" -}}
- name: FLUSSO_CONFIG
  value: /config/flusso.toml
- name: FLUSSO_NATS_URL
  value: {{ include "flusso.natsURL" . | quote }}
{{- range $name, $value := .Values.env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}

{{/*
Secret environment of capture and indexer: the source, the env entries and,
with "sinks" (the indexer), the sinks' reserved variables.
*/}}
{{- define "flusso.pipelineSecretEnv" -}}
{{- $root := .root }}
{{ include "flusso.secretEnvVar" (dict "root" $root "name" "DATABASE_URL") }}
{{- if .sinks }}
{{- range $sink, $_ := $root.Values.secrets.sinks }}
{{- range $part := list "URL" "USERNAME" "PASSWORD" }}
{{ include "flusso.secretEnvVar" (dict "root" $root "name" (printf "%s_OPENSEARCH_%s" (upper $sink) $part)) }}
{{- end }}
{{- end }}
{{- end }}
{{- range $name, $_ := $root.Values.secrets.env }}
{{ include "flusso.secretEnvVar" (dict "root" $root "name" $name) }}
{{- end }}
{{- end }}

{{- define "flusso.podSpecCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.serviceAccountName }}
serviceAccountName: {{ . }}
{{- end }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end }}

{{- define "flusso.volumes" -}}
volumes:
  - name: config
    configMap:
      name: {{ include "flusso.configMapName" . }}
  # Nothing writes files, but a library may want a temporary folder on a
  # read-only root.
  - name: tmp
    emptyDir:
      sizeLimit: 64Mi
{{- end }}

{{- define "flusso.volumeMounts" -}}
volumeMounts:
  - name: config
    mountPath: /config
    readOnly: true
  - name: tmp
    mountPath: /tmp
{{- end }}

{{/* Pod annotations: a config change rolls the pods. */}}
{{- define "flusso.podAnnotations" -}}
{{- if not .Values.config.existingConfigMap }}
checksum/config: {{ include "flusso.configFiles" . | sha256sum }}
{{- end }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Placement of one service: (dict "root" $ "values" .Values.capture). */}}
{{- define "flusso.placement" -}}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
