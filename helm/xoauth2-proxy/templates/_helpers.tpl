{{/*
Named templates for app charts. Add this chart as a dependency (keep its name, no alias):

  dependencies:
    - name: xoauth2-proxy
      version: 0.1.0
      repository: file://../xoauth2-proxy

set its values under the `xoauth2-proxy:` key of your values.yaml (at least
accounts.existingSecret), and include the templates in your pod spec:

  template:
    metadata:
      annotations:
        {{- include "xoauth2-proxy.podAnnotations" . | nindent 8 }}
    spec:
      terminationGracePeriodSeconds: 40
      initContainers:               # "containers:" when xoauth2-proxy.sidecar.native is false
        {{- include "xoauth2-proxy.sidecar" . | nindent 8 }}
      containers:
        - name: app
          env:
            - name: SMTP_HOST
              value: "127.0.0.1"
            - name: SMTP_PORT
              value: "2525"
      volumes:
        {{- include "xoauth2-proxy.volumes" . | nindent 8 }}

Each template takes the caller's root context (.) and reads this chart's values from
.Values["xoauth2-proxy"] when that key exists (an app chart's context: Helm merges this chart's
defaults in), else from .Values (this chart's own context). With an alias, pass
(dict "Values" .Values.myalias "Release" .Release) instead of ".".
*/}}

{{- define "xoauth2-proxy.fullname" -}}
{{- $v := .Values -}}
{{- if hasKey .Values "xoauth2-proxy" -}}{{- $v = index .Values "xoauth2-proxy" -}}{{- end -}}
{{- if $v.fullnameOverride -}}
{{- $v.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains "xoauth2-proxy" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-xoauth2-proxy" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "xoauth2-proxy.selectorLabels" -}}
app.kubernetes.io/name: xoauth2-proxy
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end -}}

{{- define "xoauth2-proxy.labels" -}}
{{ include "xoauth2-proxy.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" | quote }}
{{- end -}}

{{/* Name of the Secret holding the account files. */}}
{{- define "xoauth2-proxy.accountsSecretName" -}}
{{- $v := .Values -}}
{{- if hasKey .Values "xoauth2-proxy" -}}{{- $v = index .Values "xoauth2-proxy" -}}{{- end -}}
{{- if $v.accounts.existingSecret -}}
{{- $v.accounts.existingSecret -}}
{{- else if $v.accounts.inline -}}
{{- printf "%s-accounts" (include "xoauth2-proxy.fullname" . | trunc 54 | trimSuffix "-") -}}
{{- else -}}
{{- fail "xoauth2-proxy: set accounts.existingSecret (a Secret with one NAME.json key per account) or, for development only, accounts.inline" -}}
{{- end -}}
{{- end -}}

{{/* The proxy's arguments as a YAML list. Context: (dict "v" VALUES "standalone" BOOL). */}}
{{- define "xoauth2-proxy.args" -}}
{{- $v := .v -}}
{{- $args := list -}}
{{- range $v.args }}{{ $args = append $args (toString .) }}{{ end -}}
{{- $args = concat $args (list "--port" (toString (int $v.ports.smtp)) "--admin-port" (toString (int $v.ports.admin)) "--shutdown-grace" (toString (int $v.shutdownGrace))) -}}
{{- if ne $v.stateDir.type "none" }}{{ $args = concat $args (list "--state-dir" $v.stateDir.path) }}{{ end -}}
{{- if .standalone }}{{ $args = concat $args (list "--host" "0.0.0.0") }}{{ end -}}
{{- range $v.extraArgs }}{{ $args = append $args (toString .) }}{{ end -}}
{{- toYaml $args -}}
{{- end -}}

{{/* The container, as a mapping. Context: (dict "v" VALUES "standalone" BOOL). */}}
{{- define "xoauth2-proxy.container" -}}
{{- $v := .v -}}
name: {{ $v.sidecar.containerName | default "xoauth2-proxy" }}
image: {{ printf "%s:%s" $v.image.repository (required "xoauth2-proxy: image.tag is required" $v.image.tag | toString) | quote }}
imagePullPolicy: {{ $v.image.pullPolicy | default "IfNotPresent" }}
{{- if and (not .standalone) $v.sidecar.native }}
restartPolicy: Always
{{- end }}
args:
{{- include "xoauth2-proxy.args" . | nindent 2 }}
{{- with $v.env }}
env:
{{- toYaml . | nindent 2 }}
{{- end }}
ports:
{{- if .standalone }}
  - name: smtp
    containerPort: {{ int $v.ports.smtp }}
    protocol: TCP
{{- end }}
  - name: proxy-admin
    containerPort: {{ int $v.ports.admin }}
    protocol: TCP
{{- if $v.probes.startup.enabled }}
startupProbe:
  httpGet:
    path: /readyz
    port: proxy-admin
  {{- toYaml (omit $v.probes.startup "enabled") | nindent 2 }}
{{- end }}
{{- if $v.probes.readiness.enabled }}
readinessProbe:
  httpGet:
    path: /readyz
    port: proxy-admin
  {{- toYaml (omit $v.probes.readiness "enabled") | nindent 2 }}
{{- end }}
{{- if $v.probes.liveness.enabled }}
livenessProbe:
  httpGet:
    path: /healthz
    port: proxy-admin
  {{- toYaml (omit $v.probes.liveness "enabled") | nindent 2 }}
{{- end }}
{{- with $v.resources }}
resources:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.securityContext }}
securityContext:
{{- toYaml . | nindent 2 }}
{{- end }}
volumeMounts:
  - name: xoauth2-proxy-accounts
    mountPath: /etc/xoauth2-proxy/accounts
    readOnly: true
{{- if ne $v.stateDir.type "none" }}
  - name: xoauth2-proxy-state
    mountPath: {{ $v.stateDir.path }}
{{- end }}
{{- end -}}

{{/*
The sidecar container as one list item, for an app chart's initContainers (native sidecar,
the default) or containers (sidecar.native: false). Its SMTP listener is 127.0.0.1:2525.
*/}}
{{- define "xoauth2-proxy.sidecar" -}}
{{- $v := .Values -}}
{{- if hasKey .Values "xoauth2-proxy" -}}{{- $v = index .Values "xoauth2-proxy" -}}{{- end -}}
- {{ include "xoauth2-proxy.container" (dict "v" $v "standalone" false) | indent 2 | trim }}
{{- end -}}

{{/* The standalone relay's container as one list item (listener on 0.0.0.0). */}}
{{- define "xoauth2-proxy.standaloneContainer" -}}
- {{ include "xoauth2-proxy.container" (dict "v" .Values "standalone" true) | indent 2 | trim }}
{{- end -}}

{{/* The pod volumes the container mounts, as list items: the accounts Secret and the state dir. */}}
{{- define "xoauth2-proxy.volumes" -}}
{{- $v := .Values -}}
{{- if hasKey .Values "xoauth2-proxy" -}}{{- $v = index .Values "xoauth2-proxy" -}}{{- end -}}
- name: xoauth2-proxy-accounts
  secret:
    secretName: {{ include "xoauth2-proxy.accountsSecretName" . | quote }}
    defaultMode: {{ int $v.accounts.defaultMode }}
{{- if eq $v.stateDir.type "emptyDir" }}
- name: xoauth2-proxy-state
  emptyDir:
    {{- toYaml ($v.stateDir.emptyDir | default (dict)) | nindent 4 }}
{{- else if eq $v.stateDir.type "persistentVolumeClaim" }}
- name: xoauth2-proxy-state
  persistentVolumeClaim:
    claimName: {{ required "xoauth2-proxy: stateDir.persistentVolumeClaim.claimName is required with stateDir.type persistentVolumeClaim" $v.stateDir.persistentVolumeClaim.claimName | quote }}
{{- else if ne $v.stateDir.type "none" }}
{{- fail "xoauth2-proxy: stateDir.type must be emptyDir, persistentVolumeClaim or none" }}
{{- end }}
{{- end -}}

{{/* Prometheus scrape annotations (mapping lines), empty when metrics.scrapeAnnotations is off. */}}
{{- define "xoauth2-proxy.podAnnotations" -}}
{{- $v := .Values -}}
{{- if hasKey .Values "xoauth2-proxy" -}}{{- $v = index .Values "xoauth2-proxy" -}}{{- end -}}
{{- if $v.metrics.scrapeAnnotations -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ int $v.ports.admin | toString | quote }}
prometheus.io/path: /metrics
{{- end -}}
{{- end -}}
