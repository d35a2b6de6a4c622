{{/* Chart name. */}}
{{- define "akv-rotator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, unless the release name already contains the chart name. */}}
{{- define "akv-rotator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}
{{/* 52 characters: CronJob names are limited so that the Jobs they create (name + 11) fit 63. */}}

{{- define "akv-rotator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "akv-rotator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "akv-rotator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "akv-rotator.labels" -}}
helm.sh/chart: {{ include "akv-rotator.chart" . }}
{{ include "akv-rotator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: {{ .Values.mode | lower }}
{{- end }}

{{- define "akv-rotator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "akv-rotator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create=false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image reference: by digest when given, else by tag (default appVersion). */}}
{{- define "akv-rotator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The container's arguments for the current mode. */}}
{{- define "akv-rotator.args" -}}
{{- if eq .Values.mode "deployment" }}
- run
- --config
- /etc/akv-rotator/rotator.toml
{{- else }}
- once
- --config
- /etc/akv-rotator/rotator.toml
- --output
- json
{{- if eq .Values.mode "indexedJob" }}
- --shard-count
- {{ .Values.indexedJob.shardCount | int | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
A TOML basic string. JSON string escapes (\" \\ \n \uXXXX) are valid TOML escapes, so toJson
gives a correctly quoted and escaped TOML string for any value.
*/}}
{{- define "akv-rotator.tomlString" -}}
{{- toString . | toJson }}
{{- end }}

{{/*
Seconds in a duration written with h, m and s units ("45s", "1m30s", "2h"); the schema admits
no other form for the durations the chart computes with.
*/}}
{{- define "akv-rotator.seconds" -}}
{{- $total := 0 }}
{{- range regexFindAll "[0-9]+[hms]" (toString .) -1 }}
{{- $n := regexFind "[0-9]+" . | int }}
{{- if hasSuffix "h" . }}{{ $total = add $total (mul $n 3600) }}
{{- else if hasSuffix "m" . }}{{ $total = add $total (mul $n 60) }}
{{- else }}{{ $total = add $total $n }}{{ end }}
{{- end }}
{{- $total }}
{{- end }}

{{/*
terminationGracePeriodSeconds: larger than [daemon] shutdown_grace, else Kubernetes kills the
daemon while its in-flight writes still have time to finish. Derived (grace + 15 s) unless set.
*/}}
{{- define "akv-rotator.terminationGracePeriodSeconds" -}}
{{- $text := (.Values.config.daemon | default dict).shutdown_grace | default "30s" }}
{{- $grace := include "akv-rotator.seconds" $text | int }}
{{- $set := .Values.terminationGracePeriodSeconds }}
{{- if kindIs "invalid" $set }}
{{- add $grace 15 }}
{{- else if le (int $set) $grace }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be larger than config.daemon.shutdown_grace (%s = %d s): Kubernetes would kill the rotator before its in-flight writes may finish. Raise it, or leave it unset to derive %d." (int $set) $text $grace (add $grace 15)) }}
{{- else }}
{{- int $set }}
{{- end }}
{{- end }}

{{/*
Values that contradict each other fail here (the schema cannot compare two values): the
schedule and time zone have one source each, and config is either rendered or the user's.
*/}}
{{- define "akv-rotator.checks" -}}
{{- $d := .Values.config.daemon | default dict }}
{{- if and $d.schedule (ne (trim $d.schedule) (trim .Values.schedule)) }}
{{- fail (printf "config.daemon.schedule (%q) contradicts schedule (%q): set only `schedule`; the chart renders [daemon] schedule from it" $d.schedule .Values.schedule) }}
{{- end }}
{{- if and $d.time_zone (ne $d.time_zone .Values.timeZone) }}
{{- fail (printf "config.daemon.time_zone (%q) contradicts timeZone (%q): set only `timeZone`; the chart renders [daemon] time_zone from it" $d.time_zone .Values.timeZone) }}
{{- end }}
{{- if and .Values.existingConfigMap .Values.config.apps }}
{{- fail (printf "existingConfigMap (%q) is set, so config would not be rendered: move config.apps into that ConfigMap's rotator.toml, or unset existingConfigMap" .Values.existingConfigMap) }}
{{- end }}
{{- with .Values.config.ca_file }}
{{- $caFile := . }}
{{- $mounted := false }}
{{- range $.Values.extraVolumeMounts }}
{{- if hasPrefix (printf "%s/" (trimSuffix "/" .mountPath)) $caFile }}{{ $mounted = true }}{{ end }}
{{- end }}
{{- if not $mounted }}
{{- fail (printf "config.ca_file (%q) is under none of extraVolumeMounts' mountPaths: mount the CA bundle with extraVolumes and extraVolumeMounts" $caFile) }}
{{- end }}
{{- end }}
{{- end }}

{{/* The pod template's spec, shared by the CronJob, the Job and the Deployment. */}}
{{- define "akv-rotator.podSpec" -}}
{{- include "akv-rotator.checks" . }}
serviceAccountName: {{ include "akv-rotator.serviceAccountName" . }}
# Workload identity projects its own token (audience api://AzureADTokenExchange); the
# Kubernetes API token is not needed.
automountServiceAccountToken: false
{{- if ne .Values.mode "deployment" }}
restartPolicy: Never
{{- end }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
terminationGracePeriodSeconds: {{ include "akv-rotator.terminationGracePeriodSeconds" . }}
{{- with .Values.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
containers:
  - name: akv-rotator
    image: {{ include "akv-rotator.image" . }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    args:
      {{- include "akv-rotator.args" . | trim | nindent 6 }}
    env:
      - name: RUST_LOG
        value: {{ .Values.logLevel | quote }}
      {{- with .Values.otlp.endpoint }}
      - name: OTEL_EXPORTER_OTLP_ENDPOINT
        value: {{ . | quote }}
      {{- end }}
      {{- with .Values.otlp.existingSecret }}
      - name: OTEL_EXPORTER_OTLP_HEADERS
        valueFrom:
          secretKeyRef:
            name: {{ . }}
            key: {{ $.Values.otlp.headersKey }}
      {{- end }}
      {{- with .Values.extraEnv }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    {{- if eq .Values.mode "deployment" }}
    ports:
      - name: http
        containerPort: 8080
        protocol: TCP
    livenessProbe:
      httpGet:
        path: /healthz
        port: http
      initialDelaySeconds: 5
      periodSeconds: 20
      timeoutSeconds: 3
      failureThreshold: 3
    readinessProbe:
      httpGet:
        path: /readyz
        port: http
      periodSeconds: 10
      timeoutSeconds: 3
      failureThreshold: 3
    {{- end }}
    {{- with .Values.securityContext }}
    securityContext:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    resources:
      {{- toYaml .Values.resources | nindent 6 }}
    volumeMounts:
      - name: config
        mountPath: /etc/akv-rotator
        readOnly: true
      - name: tmp
        mountPath: /tmp
      {{- with .Values.extraVolumeMounts }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
volumes:
  - name: config
    configMap:
      name: {{ .Values.existingConfigMap | default (include "akv-rotator.fullname" .) }}
  - name: tmp
    emptyDir:
      sizeLimit: 64Mi
  {{- with .Values.extraVolumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Pod template metadata: the workload identity label and a config checksum. */}}
{{- define "akv-rotator.podMetadata" -}}
labels:
  {{- include "akv-rotator.selectorLabels" . | nindent 2 }}
  azure.workload.identity/use: "true"
  {{- with .Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- /* The rendered config's checksum rolls the pods on a config change; with existingConfigMap
the chart cannot see the config, so there is none. */}}
{{- $annotations := deepCopy (.Values.podAnnotations | default dict) }}
{{- if not .Values.existingConfigMap }}
{{- $_ := set $annotations "checksum/config" (include (print $.Template.BasePath "/configmap.yaml") . | sha256sum) }}
{{- end }}
{{- with $annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The Job spec shared by the CronJob's jobTemplate and the one-off Indexed Job. */}}
{{- define "akv-rotator.jobSpec" -}}
backoffLimit: {{ .Values.job.backoffLimit }}
activeDeadlineSeconds: {{ .Values.job.activeDeadlineSeconds }}
{{- if eq .Values.mode "indexedJob" }}
completionMode: Indexed
completions: {{ .Values.indexedJob.shardCount }}
parallelism: {{ .Values.indexedJob.shardCount }}
{{- end }}
# Exit code 2 = configuration or permission problem before any work: retrying cannot help.
# Exit code 3 = Entra ID or Key Vault could not be reached: a retry (counted against
# backoffLimit, after the Job's pod backoff) may succeed.
podFailurePolicy:
  rules:
    - action: FailJob
      onExitCodes:
        containerName: akv-rotator
        operator: In
        values: [2]
    - action: Count
      onExitCodes:
        containerName: akv-rotator
        operator: In
        values: [3]
    # A pod evicted or preempted by the cluster does not count against backoffLimit.
    - action: Ignore
      onPodConditions:
        - type: DisruptionTarget
          status: "True"
template:
  metadata:
    {{- include "akv-rotator.podMetadata" . | nindent 4 }}
  spec:
    {{- include "akv-rotator.podSpec" . | nindent 4 }}
{{- end }}

{{/*
Workload annotations: checkov skips that apply, each with its reason (.ci/infra-check).
*/}}
{{- define "akv-rotator.workloadAnnotations" -}}
{{- if .Values.otlp.existingSecret }}
annotations:
  # The OpenTelemetry exporter reads its headers from OTEL_EXPORTER_OTLP_HEADERS only (no file
  # form); they come from the user's Secret, never from values, and hold no Key Vault credential.
  checkov.io/skip1: CKV_K8S_35=the OTLP exporter reads its headers from OTEL_EXPORTER_OTLP_HEADERS only
{{- end }}
{{- end }}
