{{/*
The operator's namespace: namespace.name, else the release namespace.
*/}}
{{- define "promsidecar.namespace" -}}
{{- .Values.namespace.name | default .Release.Namespace -}}
{{- end -}}

{{/*
The namespaces whose PrometheusAgents the operator watches, as a list:
agentNamespaces, else the operator's namespace. Returned as JSON because
include can only return a string.
*/}}
{{- define "promsidecar.agentNamespaces" -}}
{{- $nss := .Values.agentNamespaces | default (list (include "promsidecar.namespace" .)) -}}
{{- $nss | uniq | toJson -}}
{{- end -}}

{{- define "promsidecar.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/*
--agent-image, only when asked for: otherwise the operator's built-in default
(the agent of the same release) applies.
*/}}
{{- define "promsidecar.agentImage" -}}
{{- if or .Values.agentImage.repository .Values.agentImage.tag -}}
{{- printf "%s:%s" (.Values.agentImage.repository | default "ghcr.io/promsidecar/promsidecar-agent") (.Values.agentImage.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/*
cert-manager mode: where the Certificate's Secret is mounted and its names.
*/}}
{{- define "promsidecar.certDir" -}}/etc/promsidecar/webhook-tls{{- end -}}
{{- define "promsidecar.certificateName" -}}promsidecar-webhook{{- end -}}
{{- define "promsidecar.certificateSecret" -}}promsidecar-webhook-tls{{- end -}}

{{/*
Restarting workloads (repair, rollout) needs its own ClusterRole.
*/}}
{{- define "promsidecar.restartsWorkloads" -}}
{{- if or .Values.repair.enabled .Values.rollout.enabled -}}true{{- end -}}
{{- end -}}
