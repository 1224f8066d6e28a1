{{/* Chart name. */}}
{{- define "code-executor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: <release>-<chart>, or the release name when it contains the chart name. */}}
{{- define "code-executor.fullname" -}}
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

{{- define "code-executor.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: stable across upgrades. */}}
{{- define "code-executor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "code-executor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end -}}

{{/* Standard labels of every object. Note: managed-by is Helm here; the
     sandbox pods the server creates carry managed-by=code-executor, which the
     sandbox NetworkPolicy selects. */}}
{{- define "code-executor.labels" -}}
{{ include "code-executor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "code-executor.chart" . }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* commonAnnotations merged with an object's own (dict), as a block or nothing. */}}
{{- define "code-executor.annotations" -}}
{{- $all := merge (deepCopy (default (dict) .own)) (default (dict) .root.Values.commonAnnotations) -}}
{{- with $all }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "code-executor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "code-executor.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "code-executor.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Port of a host:port address (the last ":"-separated part). */}}
{{- define "code-executor.port" -}}
{{- $p := regexFind "[0-9]+$" (toString .) -}}
{{- if not $p -}}{{- fail (printf "cannot find a port in address %q" (toString .)) -}}{{- end -}}
{{- $p -}}
{{- end -}}

{{/* The server config with the chart's fixed parts filled in. */}}
{{- define "code-executor.serverConfig" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- $kube := default (dict) $cfg.kubernetes -}}
{{- $_ := set $kube "namespace" (default .Release.Namespace $kube.namespace) -}}
{{- $_ := set $cfg "kubernetes" $kube -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* A server duration ("30s", "1h30m", "250ms", 30) in seconds, as a float string. */}}
{{- define "code-executor.durationSeconds" -}}
{{- $d := . -}}
{{- if or (kindIs "float64" $d) (kindIs "int" $d) (kindIs "int64" $d) -}}
{{- float64 $d -}}
{{- else if regexMatch "^[0-9]+$" (toString $d) -}}
{{- float64 (atoi (toString $d)) -}}
{{- else if regexMatch "^(([0-9]*\\.)?[0-9]+(ns|us|µs|ms|s|m|h))+$" (toString $d) -}}
{{- $total := 0.0 -}}
{{- $units := dict "ns" 0.000000001 "us" 0.000001 "µs" 0.000001 "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0 -}}
{{- range regexFindAll "([0-9]*\\.)?[0-9]+(ns|us|µs|ms|s|m|h)" (toString $d) -1 -}}
{{- $num := regexFind "^([0-9]*\\.)?[0-9]+" . -}}
{{- $unit := trimPrefix $num . -}}
{{- $total = addf $total (mulf (float64 $num) (get $units $unit)) -}}
{{- end -}}
{{- $total -}}
{{- else -}}
{{- fail (printf "config.server.shutdownGrace: invalid duration %q" (toString $d)) -}}
{{- end -}}
{{- end -}}

{{/* Contradictory values fail the render, loudly. */}}
{{- define "code-executor.validate" -}}
{{- $cfg := .Values.config -}}
{{- $server := default (dict) $cfg.server -}}
{{- $backend := default "gvisor-local" $server.backend -}}
{{- if ne $backend "kubernetes" -}}
{{- fail (printf "config.server.backend must be \"kubernetes\" in this chart (the image has no runsc), got %q" $backend) -}}
{{- end -}}
{{- $ns := default .Release.Namespace (default (dict) $cfg.kubernetes).namespace -}}
{{- if ne $ns .Release.Namespace -}}
{{- fail (printf "config.kubernetes.namespace (%q) must be empty or the release namespace (%q): the Role grants rights there only" $ns .Release.Namespace) -}}
{{- end -}}
{{- $grace := include "code-executor.durationSeconds" (default "30s" $server.shutdownGrace) | float64 -}}
{{- if le (float64 .Values.terminationGracePeriodSeconds) $grace -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be larger than config.server.shutdownGrace (%vs), or running executions are killed mid-shutdown" .Values.terminationGracePeriodSeconds $grace) -}}
{{- end -}}
{{- if and .Values.serviceMonitor.enabled (eq (toString (default "" $server.metricsAddress)) "") -}}
{{- fail "serviceMonitor.enabled needs config.server.metricsAddress (it is empty: the metrics exposer is off)" -}}
{{- end -}}
{{- if .Values.hpa.enabled -}}
{{- if gt (int .Values.hpa.minReplicas) (int .Values.hpa.maxReplicas) -}}
{{- fail (printf "hpa.minReplicas (%v) is larger than hpa.maxReplicas (%v)" .Values.hpa.minReplicas .Values.hpa.maxReplicas) -}}
{{- end -}}
{{- end -}}
{{- if .Values.pdb.enabled -}}
{{- $pdb := .Values.pdb -}}
{{- if and (not (kindIs "invalid" $pdb.minAvailable)) (not (kindIs "invalid" $pdb.maxUnavailable)) -}}
{{- fail "pdb: set only one of minAvailable and maxUnavailable" -}}
{{- end -}}
{{- if and (kindIs "invalid" $pdb.minAvailable) (kindIs "invalid" $pdb.maxUnavailable) -}}
{{- fail "pdb: set one of minAvailable and maxUnavailable (or pdb.enabled: false)" -}}
{{- end -}}
{{- $replicas := ternary .Values.hpa.minReplicas .Values.replicaCount .Values.hpa.enabled | int -}}
{{- if and (not (kindIs "invalid" $pdb.minAvailable)) (not (kindIs "string" $pdb.minAvailable)) -}}
{{- if ge (int $pdb.minAvailable) $replicas -}}
{{- fail (printf "pdb.minAvailable (%v) must be below the replica count (%v), or no pod can ever be evicted and node drains hang" $pdb.minAvailable $replicas) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
