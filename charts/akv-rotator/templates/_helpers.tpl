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

{{/* The pod template's spec, shared by the CronJob, the Job and the Deployment. */}}
{{- define "akv-rotator.podSpec" -}}
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
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  fsGroup: 65532
  seccompProfile:
    type: RuntimeDefault
containers:
  - name: akv-rotator
    image: {{ include "akv-rotator.image" . }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    args:
      {{- include "akv-rotator.args" . | trim | nindent 6 }}
    env:
      - name: RUST_LOG
        value: {{ .Values.logLevel | quote }}
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
    securityContext:
      runAsNonRoot: true
      runAsUser: 65532
      runAsGroup: 65532
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
      privileged: false
      capabilities:
        drop: ["ALL"]
      seccompProfile:
        type: RuntimeDefault
    resources:
      {{- toYaml .Values.resources | nindent 6 }}
    volumeMounts:
      - name: config
        mountPath: /etc/akv-rotator
        readOnly: true
      - name: tmp
        mountPath: /tmp
volumes:
  - name: config
    configMap:
      name: {{ include "akv-rotator.fullname" . }}
  - name: tmp
    emptyDir:
      sizeLimit: 64Mi
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
annotations:
  checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
  {{- with .Values.podAnnotations }}
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
