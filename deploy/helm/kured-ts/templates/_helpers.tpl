{{/* Names and labels, in the usual Helm shape. */}}
{{- define "kured-ts.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kured-ts.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "kured-ts.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kured-ts.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kured-ts.labels" -}}
{{ include "kured-ts.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "kured-ts.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kured-ts.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The DaemonSet carrying the lock: this chart's own unless lock.* points elsewhere (migration). */}}
{{- define "kured-ts.lockName" -}}
{{- default (include "kured-ts.fullname" .) .Values.lock.daemonSetName -}}
{{- end -}}

{{- define "kured-ts.lockNamespace" -}}
{{- default .Release.Namespace .Values.lock.daemonSetNamespace -}}
{{- end -}}

{{/* Host directory mounted at /sentinel: the directory of configuration.rebootSentinel. */}}
{{- define "kured-ts.useSentinelHostPath" -}}
{{- if .Values.configuration.useRebootSentinelHostPath -}}true{{- end -}}
{{- end -}}

{{- define "kured-ts.notifyUrlFile" -}}
/etc/kured-ts/notify/{{ .Values.notifyUrlSecret.key }}
{{- end -}}

{{/*
The agent's arguments. Scalar configuration keys become --kebab-case=value when non-empty (so the
agent's defaults, which are kured's, apply otherwise), booleans a bare --flag when true, lists one
flag per item: the same rendering as kured's chart. Each argument is quoted so a value with YAML
syntax in it (": ", "#", a leading "*") stays one string.
*/}}
{{- define "kured-ts.args" -}}
{{- $c := .Values.configuration -}}
- {{ printf "--ds-name=%s" (include "kured-ts.lockName" .) | quote }}
- {{ printf "--ds-namespace=%s" (include "kured-ts.lockNamespace" .) | quote }}
{{- if $c.useRebootSentinelHostPath }}
- {{ printf "--reboot-sentinel=/sentinel/%s" (base $c.rebootSentinel) | quote }}
{{- else }}
{{- if $c.rebootSentinel }}
- {{ printf "--reboot-sentinel=%s" $c.rebootSentinel | quote }}
{{- end }}
{{- if $c.rebootSentinelCommand }}
- {{ printf "--reboot-sentinel-command=%s" $c.rebootSentinelCommand | quote }}
{{- end }}
{{- end }}
{{- range $key := list "metricsHost" "metricsPort" "lockTtl" "lockReleaseDelay" "alertFilterRegexp" "endTime" "lockAnnotation" "period" "drainGracePeriod" "drainPodSelector" "drainDelay" "drainTimeout" "skipWaitForDeleteTimeout" "prometheusUrl" "rebootCommand" "rebootDelay" "rebootMethod" "rebootSignal" "slackChannel" "slackHookUrl" "slackUsername" "notifyUrl" "messageTemplateDrain" "messageTemplateReboot" "messageTemplateUncordon" "startTime" "timeZone" "preferNoScheduleTaint" "logFormat" "concurrency" "rebootTimeout" "drainParallelism" "messageTemplateDrainFailed" "messageTemplateBlocked" "prometheusBearerTokenFile" "prometheusBasicAuthFile" "prometheusCaFile" "postRebootTimeout" "messageTemplateHalted" "zoneLabel" "maxZones" "alertmanagerUrl" "alertmanagerBearerTokenFile" "alertmanagerBasicAuthFile" "alertmanagerCaFile" "silenceMaxDuration" "preRebootHookUrl" "postRebootHookUrl" "hookBearerTokenFile" "hookBasicAuthFile" "hookCaFile" "hookTimeout" "rebootRequestPeriod" "scaleDownGrace" }}
{{- $value := index $c $key }}
{{- if $value }}
- {{ printf "--%s=%v" (kebabcase $key) $value | quote }}
{{- end }}
{{- end }}
{{- if eq (toString $c.budgetPreflight) "false" }}
- "--budget-preflight=false"
{{- end }}
{{- if eq (toString $c.scaleDownProtection) "false" }}
- "--scale-down-protection=false"
{{- end }}
{{- range $key := list "alertFiringOnly" "alertFilterMatchOnly" "forceReboot" "annotateNodes" "postRebootCheckAlerts" }}
{{- if index $c $key }}
- {{ printf "--%s" (kebabcase $key) | quote }}
{{- end }}
{{- end }}
{{- /* Defaults to true in the agent: only an explicit false is passed. */}}
{{- if eq (toString $c.haltOnFailure) "false" }}
- "--halt-on-failure=false"
{{- end }}
{{- range $key := list "blockingPodSelector" "rebootDays" "preRebootNodeLabels" "postRebootNodeLabels" "postRebootReadySelector" "maintenanceWindow" "notAllowedDates" "alertMatchers" "blockingPrometheusQuery" "silenceDuringReboot" }}
{{- range $item := index $c $key }}
- {{ printf "--%s=%v" (kebabcase $key) $item | quote }}
{{- end }}
{{- end }}
{{- if and .Values.notifyUrlSecret.name .Values.notifyUrlSecret.asFile }}
- {{ printf "--notify-url-file=%s" (include "kured-ts.notifyUrlFile" .) | quote }}
{{- end }}
{{- range $key, $value := .Values.extraArgs }}
{{- if $value }}
- {{ printf "--%s=%v" $key $value | quote }}
{{- else }}
- {{ printf "--%s" $key | quote }}
{{- end }}
{{- end }}
{{- end -}}
