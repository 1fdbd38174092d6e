{{/* Names ------------------------------------------------------------------------------------------------- */}}

{{- define "videogen.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's base name: <release> when it already contains the chart name, else <release>-<chart>. */}}
{{- define "videogen.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "videogen.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "videogen.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: videogen
{{- end }}

{{/* Selector labels of one component: (dict "root" $ "component" "api") */}}
{{- define "videogen.selectorLabels" -}}
app.kubernetes.io/name: {{ include "videogen.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "videogen.componentLabels" -}}
{{ include "videogen.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* A component's ServiceAccount: (dict "root" $ "component" "api"); its serviceAccount.name, else
<fullname>-<component>; with serviceAccount.create=false the name must be given (the account exists already). */}}
{{- define "videogen.serviceAccountName" -}}
{{- $account := (index .root.Values .component).serviceAccount }}
{{- if and (not $account.create) (not $account.name) }}
{{- fail (printf "%s.serviceAccount.create=false runs the %s as an existing ServiceAccount: set %s.serviceAccount.name to it" .component .component .component) }}
{{- end }}
{{- default (printf "%s-%s" (include "videogen.fullname" .root) .component) $account.name }}
{{- end }}
{{- define "videogen.apiServiceAccount" -}}
{{- include "videogen.serviceAccountName" (dict "root" . "component" "api") }}
{{- end }}
{{- define "videogen.operatorServiceAccount" -}}
{{- include "videogen.serviceAccountName" (dict "root" . "component" "operator") }}
{{- end }}
{{- define "videogen.runnerServiceAccount" -}}
{{- include "videogen.serviceAccountName" (dict "root" . "component" "runner") }}
{{- end }}

{{/* The API's active-job limit (429 beyond it), decided here only: api.maxConcurrentJobs, else the operator's room
to run jobs now, the lower of queue.maxRunningJobs and queue.maxGPUs (every job takes at least one GPU), so that a
REST client is never refused while the operator could start its job. */}}
{{- define "videogen.apiMaxConcurrentJobs" -}}
{{- if .Values.api.maxConcurrentJobs }}
{{- .Values.api.maxConcurrentJobs }}
{{- else }}
{{- $room := 0 }}
{{- range list .Values.queue.maxRunningJobs .Values.queue.maxGPUs }}
{{- if and . (or (eq $room 0) (lt (int .) $room)) }}{{ $room = int . }}{{ end }}
{{- end }}
{{- if eq $room 0 }}
{{- fail "api.maxConcurrentJobs: set it; queue.maxRunningJobs and queue.maxGPUs are both null, so there is no operator cap to derive the API's limit from" }}
{{- end }}
{{- $room }}
{{- end }}
{{- end }}

{{- define "videogen.modelCacheClaim" -}}
{{- default (printf "%s-model-cache" (include "videogen.fullname" .)) .Values.modelCache.existingClaim }}
{{- end }}

{{/* Cluster-scoped objects carry the namespace, so one release name can be installed in several namespaces. */}}
{{- define "videogen.clusterName" -}}
{{- printf "%s-%s-%s" (include "videogen.fullname" .root) .root.Release.Namespace .suffix }}
{{- end }}

{{/* Images ------------------------------------------------------------------------------------------------ */}}

{{/* repository:tag, or repository:tag@digest when a digest pins it (the kubelet then pulls by digest). */}}
{{- define "videogen.image" -}}
{{- printf "%s:%s" .repository (default $.appVersion .tag) }}{{ with .digest }}@{{ . }}{{ end }}
{{- end }}
{{- define "videogen.apiImage" -}}
{{- include "videogen.image" (merge (dict "appVersion" .Chart.AppVersion) .Values.images.api) }}
{{- end }}
{{- define "videogen.operatorImage" -}}
{{- include "videogen.image" (merge (dict "appVersion" .Chart.AppVersion) .Values.images.operator) }}
{{- end }}
{{- define "videogen.runnerImage" -}}
{{- include "videogen.image" (merge (dict "appVersion" .Chart.AppVersion) .Values.images.runner) }}
{{- end }}

{{/* Namespaces the operator watches (a list), unless it watches all of them. */}}
{{- define "videogen.watchedNamespaces" -}}
{{- toJson (uniq (prepend .Values.operator.watchNamespaces .Release.Namespace)) }}
{{- end }}

{{/* S3 --------------------------------------------------------------------------------------------------- */}}

{{/* The Secret holding the S3 keys: the user's, or the one the chart makes for the bundled SeaweedFS demo; empty when
the pods get credentials from their identity (s3.credentialsFromIdentity). */}}
{{- define "videogen.s3Secret" -}}
{{- if .Values.s3.credentialsFromIdentity }}
{{- if or .Values.s3.existingSecret .Values.seaweedfs.enabled }}
{{- fail "s3.credentialsFromIdentity=true takes S3 credentials from the pods' identity: set s3.existingSecret=\"\" and leave seaweedfs.enabled=false (the bundled SeaweedFS needs keys)" }}
{{- end }}
{{- else if .Values.s3.existingSecret }}
{{- .Values.s3.existingSecret }}
{{- else if and .Values.seaweedfs.enabled .Values.s3.demoCredentials.accessKeyId .Values.s3.demoCredentials.secretAccessKey }}
{{- printf "%s-s3" (include "videogen.fullname" .) }}
{{- else }}
{{- fail "s3.existingSecret is empty: name a Secret that holds the S3 keys (keys s3.accessKeyIdKey and s3.secretAccessKeyKey), or, only to try the bundled SeaweedFS, set seaweedfs.enabled=true with s3.demoCredentials.accessKeyId and s3.demoCredentials.secretAccessKey (the chart ships no working keys)" }}
{{- end }}
{{- end }}

{{/* The Secret holding the webhook signing secret: webhooks.existingSecret or the chart's own. */}}
{{- define "videogen.webhookSecret" -}}
{{- .Values.webhooks.existingSecret | default (printf "%s-webhooks" (include "videogen.fullname" .)) }}
{{- end }}
{{/* The Secret holding the API keys: api.auth.existingSecret, the chart's own, or none with auth.disabled. */}}
{{- define "videogen.apiKeysSecret" -}}
{{- if .Values.api.auth.existingSecret }}
{{- .Values.api.auth.existingSecret }}
{{- else if not .Values.api.auth.disabled }}
{{- printf "%s-api-keys" (include "videogen.fullname" .) }}
{{- end }}
{{- end }}
{{- define "videogen.seaweedfsName" -}}
{{- printf "%s-seaweedfs" (include "videogen.fullname" .) }}
{{- end }}

{{- define "videogen.s3Endpoint" -}}
{{- if .Values.s3.endpoint }}
{{- .Values.s3.endpoint }}
{{- else if .Values.seaweedfs.enabled }}
{{- printf "http://%s.%s.svc:%d" (include "videogen.seaweedfsName" .) .Release.Namespace (int .Values.seaweedfs.port) }}
{{- end }}
{{- end }}

{{/* VIDEOGEN_S3_* for the API and operator containers; the keys come from the Secret, never inline (none with
s3.credentialsFromIdentity: the S3 client finds the pod's identity itself). */}}
{{- define "videogen.s3Env" -}}
{{- $endpoint := include "videogen.s3Endpoint" . }}
{{- $secret := include "videogen.s3Secret" . }}
{{- if $endpoint }}
- name: VIDEOGEN_S3_ENDPOINT_URL
  value: {{ $endpoint | quote }}
{{- end }}
- name: VIDEOGEN_S3_REGION
  value: {{ .Values.s3.region | quote }}
- name: VIDEOGEN_S3_FORCE_PATH_STYLE
  value: {{ .Values.s3.forcePathStyle | quote }}
{{- if $secret }}
- name: VIDEOGEN_S3_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ .Values.s3.accessKeyIdKey }}
- name: VIDEOGEN_S3_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ .Values.s3.secretAccessKeyKey }}
{{- end }}
{{- end }}

{{/* The names in imagePullSecrets, as a JSON list (the operator's image_pull_secrets). */}}
{{- define "videogen.imagePullSecretNames" -}}
{{- $names := list }}
{{- range .Values.imagePullSecrets }}{{ $names = append $names .name }}{{ end }}
{{- toJson $names }}
{{- end }}

{{/* Literal env from a name -> value map, sorted by name. */}}
{{- define "videogen.literalEnv" -}}
{{- range $name, $value := . }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end }}

{{/* Tracing: the standard OTLP endpoint variable while tracing.otlpEndpoint is set (the API and the operator). */}}
{{- define "videogen.tracingEnv" -}}
{{- with .Values.tracing.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- end }}

{{/* The runner pods' literal environment (JSON), passed through the operator: the log format and the tracing
endpoint, under runner.env (which wins). */}}
{{- define "videogen.runnerEnv" -}}
{{- $env := dict "VIDEOGEN_RUNNER_LOG_FORMAT" .Values.runner.logFormat }}
{{- with .Values.tracing.otlpEndpoint }}{{ $_ := set $env "OTEL_EXPORTER_OTLP_ENDPOINT" . }}{{ end }}
{{- mergeOverwrite $env (.Values.runner.env | default dict) | toJson }}
{{- end }}

{{/* Pod placement: (dict "nodeSelector" ... "tolerations" ... "affinity" ...) */}}
{{- define "videogen.placement" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The model allow-list (comma-separated) the API and the operator share: "*" with api.allowAnyModel, else
api.modelAllowlist, else the preloaded models' repo ids; empty (nothing allowed) when none of these names one. */}}
{{- define "videogen.modelAllowlist" -}}
{{- if .Values.api.allowAnyModel }}
{{- "*" }}
{{- else if .Values.api.modelAllowlist }}
{{- join "," .Values.api.modelAllowlist }}
{{- else }}
{{- $ids := list }}
{{- range .Values.models }}{{ $ids = append $ids .repoId }}{{ end }}
{{- join "," (uniq $ids) }}
{{- end }}
{{- end }}

{{- define "videogen.modelDefaults" -}}
{{- $d := dict }}
{{- with .Values.defaultModels.textToVideo }}{{ $_ := set $d "text-to-video" . }}{{ end }}
{{- with .Values.defaultModels.imageToVideo }}{{ $_ := set $d "image-to-video" . }}{{ end }}
{{- with .Values.defaultModels.videoToVideo }}{{ $_ := set $d "video-to-video" . }}{{ end }}
{{- toJson $d }}
{{- end }}

{{/* NetworkPolicy egress rules ------------------------------------------------------------------------- */}}

{{/* One egress rule from (dict "to" peers "ports" [ports]). */}}
{{- define "videogen.egressRule" -}}
- to:
    {{- toYaml .to | nindent 4 }}
  ports:
    {{- range .ports }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
{{- end }}
{{/* Egress to the OpenTelemetry collector (networkPolicy.tracing) while tracing.otlpEndpoint is set. */}}
{{- define "videogen.tracingEgress" -}}
{{- if .Values.tracing.otlpEndpoint }}
{{- include "videogen.egressRule" .Values.networkPolicy.tracing }}
{{- end }}
{{- end }}
{{/* Egress to S3: the bundled SeaweedFS by its labels, or networkPolicy.s3. */}}
{{- define "videogen.s3Egress" -}}
{{- if .Values.seaweedfs.enabled }}
- to:
    - podSelector:
        matchLabels:
          {{- include "videogen.selectorLabels" (dict "root" . "component" "seaweedfs") | nindent 10 }}
  ports:
    - port: {{ .Values.seaweedfs.port }}
      protocol: TCP
{{- else }}
{{- include "videogen.egressRule" .Values.networkPolicy.s3 }}
{{- end }}
{{- end }}
