{{/*
Named templates for app charts (README.md beside this file; helm/examples/app-with-mail is a
complete app chart). Add this chart as a dependency (keep its name, no alias):

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
      initContainers:               # native sidecar (sidecar.native: true, the default)
        {{- include "xoauth2-proxy.sidecar" . | nindent 8 }}
      containers:
        - name: app
          env:
            - name: SMTP_HOST
              value: "127.0.0.1"
            - name: SMTP_PORT
              value: "2525"
        # with sidecar.native: false, instead of the initContainers entry above:
        # {{- include "xoauth2-proxy.sidecarContainer" . | nindent 8 }}
      volumes:
        {{- include "xoauth2-proxy.volumes" . | nindent 8 }}

"xoauth2-proxy.sidecar" fails to render when sidecar.native is false, and
"xoauth2-proxy.sidecarContainer" when it is true: a flipped value stops the render instead of
leaving an init container that never ends (or a container with an init container's field).

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
{{- if .standalone }}
{{- $args = concat $args (list "--host" "::") -}}
{{- if $v.standalone.tls.secretName }}
{{- $args = concat $args (list "--tls-cert" "/etc/xoauth2-proxy/tls/tls.crt" "--tls-key" "/etc/xoauth2-proxy/tls/tls.key") -}}
{{- if $v.standalone.tls.implicit }}{{ $args = concat $args (list "--tls-port" (toString (int $v.ports.smtps))) }}{{ end -}}
{{- else if $v.standalone.tls.allowPlaintextAuth }}
{{- $args = append $args "--allow-plaintext-auth" -}}
{{- else }}
{{- fail "xoauth2-proxy: standalone mode listens on the pod network: set standalone.tls.secretName (a kubernetes.io/tls Secret, e.g. from a cert-manager Certificate) so apps log in over TLS, or standalone.tls.allowPlaintextAuth: true to accept passwords in clear" -}}
{{- end }}
{{- end -}}
{{- range $v.extraArgs }}{{ $args = append $args (toString .) }}{{ end -}}
{{- toYaml $args -}}
{{- end -}}

{{/* The image reference: repository:tag, or repository:tag@digest with image.digest. Context: VALUES. */}}
{{- define "xoauth2-proxy.image" -}}
{{- $ref := printf "%s:%s" .image.repository (required "xoauth2-proxy: image.tag is required" .image.tag | toString) -}}
{{- if .image.digest }}{{ $ref = printf "%s@%s" $ref .image.digest }}{{ end -}}
{{- $ref -}}
{{- end -}}

{{/*
Fleet mode's values as JSON (read with fromJson): urlSecret, urlKey, keySecret, keyKey, mode and
sizeHint ("" when unset). Fails when state.keySecret is set without state.postgres.urlSecret, and
when the URL itself is given in env (XOAUTH2_PROXY_STATE_URL with a value) or as --state-url in
args or extraArgs: it may carry the database password. Context: VALUES.
*/}}
{{- define "xoauth2-proxy.fleet" -}}
{{- $state := .state | default dict -}}
{{- $url := ($state.postgres | default dict).urlSecret | default dict -}}
{{- $key := $state.keySecret | default dict -}}
{{- $hint := "" -}}
{{- with (.fleet | default dict).sizeHint }}{{ $hint = toString (int .) }}{{ end -}}
{{- if and $key.name (not $url.name) -}}
{{- fail "xoauth2-proxy: state.keySecret encrypts tokens in the fleet's database: set state.postgres.urlSecret too" -}}
{{- end -}}
{{- range .env }}
{{- if and (eq .name "XOAUTH2_PROXY_STATE_URL") (hasKey . "value") }}
{{- fail "xoauth2-proxy: the state URL may carry the database password: put it in a Secret and set state.postgres.urlSecret, not env XOAUTH2_PROXY_STATE_URL" -}}
{{- end }}
{{- end -}}
{{- range concat (.args | default list) (.extraArgs | default list) }}
{{- if or (eq (toString .) "--state-url") (hasPrefix "--state-url=" (toString .)) }}
{{- fail "xoauth2-proxy: the state URL may carry the database password: put it in a Secret and set state.postgres.urlSecret, not --state-url in args or extraArgs" -}}
{{- end }}
{{- end -}}
{{- dict "urlSecret" ($url.name | default "") "urlKey" ($url.key | default "url") "keySecret" ($key.name | default "") "keyKey" ($key.key | default "key") "mode" (int ($state.defaultMode | default 292)) "sizeHint" $hint | toJson -}}
{{- end -}}

{{/* The container, as a mapping. Context: (dict "v" VALUES "standalone" BOOL "native" BOOL). */}}
{{- define "xoauth2-proxy.container" -}}
{{- $v := .v -}}
name: {{ $v.sidecar.containerName | default "xoauth2-proxy" }}
image: {{ include "xoauth2-proxy.image" $v | quote }}
imagePullPolicy: {{ $v.image.pullPolicy | default "IfNotPresent" }}
{{- if .native }}
restartPolicy: Always
{{- end }}
args:
{{- include "xoauth2-proxy.args" . | nindent 2 }}
{{- $projectToken := and $v.workloadIdentity $v.workloadIdentity.azure.projectToken }}
{{- $fleet := include "xoauth2-proxy.fleet" $v | fromJson }}
{{- if or $v.env $projectToken $fleet.urlSecret $fleet.sizeHint }}
env:
{{- with $v.env }}
{{- toYaml . | nindent 2 }}
{{- end }}
{{- if $projectToken }}
  - name: AZURE_FEDERATED_TOKEN_FILE
    value: /var/run/secrets/azure/tokens/azure-identity-token
{{- end }}
{{- /* Fleet mode: paths of the mounted Secret files, never the URL itself. */}}
{{- if $fleet.urlSecret }}
  - name: XOAUTH2_PROXY_STATE_URL_FILE
    value: /etc/xoauth2-proxy/state-url/url
{{- end }}
{{- if $fleet.keySecret }}
  - name: XOAUTH2_PROXY_STATE_KEY_FILE
    value: /etc/xoauth2-proxy/state-key/key
{{- end }}
{{- if $fleet.sizeHint }}
  - name: XOAUTH2_PROXY_FLEET_SIZE_HINT
    value: {{ $fleet.sizeHint | quote }}
{{- end }}
{{- end }}
ports:
{{- if .standalone }}
  - name: smtp
    containerPort: {{ int $v.ports.smtp }}
    protocol: TCP
{{- if and $v.standalone.tls.secretName $v.standalone.tls.implicit }}
  - name: smtps
    containerPort: {{ int $v.ports.smtps }}
    protocol: TCP
{{- end }}
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
    path: {{ $v.probes.readiness.path | default "/readyz" }}
    port: proxy-admin
  {{- toYaml (omit $v.probes.readiness "enabled" "path") | nindent 2 }}
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
{{- if and .standalone $v.standalone.tls.secretName }}
  - name: xoauth2-proxy-tls
    mountPath: /etc/xoauth2-proxy/tls
    readOnly: true
{{- end }}
{{- if $projectToken }}
  - name: xoauth2-proxy-azure-token
    mountPath: /var/run/secrets/azure/tokens
    readOnly: true
{{- end }}
{{- if $fleet.urlSecret }}
  - name: xoauth2-proxy-state-url
    mountPath: /etc/xoauth2-proxy/state-url
    readOnly: true
{{- end }}
{{- if $fleet.keySecret }}
  - name: xoauth2-proxy-state-key
    mountPath: /etc/xoauth2-proxy/state-key
    readOnly: true
{{- end }}
{{- end -}}

{{/*
The native sidecar as one list item, for an app chart's initContainers (Kubernetes 1.29+):
restartPolicy: Always, started before the app and stopped after it. Fails when sidecar.native is
false. Its SMTP listener is 127.0.0.1:2525.
*/}}
{{- define "xoauth2-proxy.sidecar" -}}
{{- $v := .Values -}}
{{- if hasKey .Values "xoauth2-proxy" -}}{{- $v = index .Values "xoauth2-proxy" -}}{{- end -}}
{{- if not $v.sidecar.native -}}
{{- fail "xoauth2-proxy: sidecar.native is false: include \"xoauth2-proxy.sidecarContainer\" under containers, not \"xoauth2-proxy.sidecar\" under initContainers (an init container without restartPolicy: Always would never end)" -}}
{{- end -}}
- {{ include "xoauth2-proxy.container" (dict "v" $v "standalone" false "native" true) | indent 2 | trim }}
{{- end -}}

{{/*
The classic sidecar as one list item, for an app chart's containers (clusters before 1.29):
an ordinary second container. Fails when sidecar.native is true.
*/}}
{{- define "xoauth2-proxy.sidecarContainer" -}}
{{- $v := .Values -}}
{{- if hasKey .Values "xoauth2-proxy" -}}{{- $v = index .Values "xoauth2-proxy" -}}{{- end -}}
{{- if $v.sidecar.native -}}
{{- fail "xoauth2-proxy: sidecar.native is true: include \"xoauth2-proxy.sidecar\" under initContainers (native sidecar), or set sidecar.native: false to use \"xoauth2-proxy.sidecarContainer\" under containers" -}}
{{- end -}}
- {{ include "xoauth2-proxy.container" (dict "v" $v "standalone" false "native" false) | indent 2 | trim }}
{{- end -}}

{{/* The standalone relay's container as one list item (listener on ::). */}}
{{- define "xoauth2-proxy.standaloneContainer" -}}
- {{ include "xoauth2-proxy.container" (dict "v" .Values "standalone" true "native" false) | indent 2 | trim }}
{{- end -}}

{{/* imagePullSecrets list items (empty when none): for an app pod's imagePullSecrets. */}}
{{- define "xoauth2-proxy.imagePullSecrets" -}}
{{- $v := .Values -}}
{{- if hasKey .Values "xoauth2-proxy" -}}{{- $v = index .Values "xoauth2-proxy" -}}{{- end -}}
{{- with $v.imagePullSecrets }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{/* The standalone pod's ServiceAccount name. */}}
{{- define "xoauth2-proxy.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "xoauth2-proxy.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{/* The pod volumes the container mounts, as list items: the accounts Secret, the state dir and, in
fleet mode, the state URL and key Secrets (one key each, as files url and key). */}}
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
{{- if and $v.workloadIdentity $v.workloadIdentity.azure.projectToken }}
- name: xoauth2-proxy-azure-token
  projected:
    defaultMode: 0444
    sources:
      - serviceAccountToken:
          path: azure-identity-token
          audience: api://AzureADTokenExchange
          expirationSeconds: {{ int $v.workloadIdentity.azure.tokenExpirationSeconds }}
{{- end }}
{{- $fleet := include "xoauth2-proxy.fleet" $v | fromJson }}
{{- if $fleet.urlSecret }}
- name: xoauth2-proxy-state-url
  secret:
    secretName: {{ $fleet.urlSecret | quote }}
    defaultMode: {{ int $fleet.mode }}
    items:
      - key: {{ $fleet.urlKey | quote }}
        path: url
{{- end }}
{{- if $fleet.keySecret }}
- name: xoauth2-proxy-state-key
  secret:
    secretName: {{ $fleet.keySecret | quote }}
    defaultMode: {{ int $fleet.mode }}
    items:
      - key: {{ $fleet.keyKey | quote }}
        path: key
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
