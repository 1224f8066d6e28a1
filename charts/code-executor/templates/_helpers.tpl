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

{{/* Where the tls.secretName Secret is mounted (a whole-volume mount, so the
     kubelet swaps in rotated content; a subPath mount would never see it). */}}
{{- define "code-executor.tlsDir" -}}/etc/code-executor/tls{{- end -}}

{{/* The server config with the chart's fixed parts filled in: the sandbox
     namespace; with tls.secretName the Secret's files as server.tls (and a
     plaintext health listener for the kubelet's probes, which cannot speak
     TLS); with auth on, reflection off. Keys the user set explicitly win. */}}
{{- define "code-executor.serverConfig" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- $kube := default (dict) $cfg.kubernetes -}}
{{- $_ := set $kube "namespace" (default .Release.Namespace $kube.namespace) -}}
{{- $_ := set $cfg "kubernetes" $kube -}}
{{- $server := default (dict) $cfg.server -}}
{{- if .Values.tls.secretName -}}
{{- $dir := include "code-executor.tlsDir" . -}}
{{- $tls := default (dict) $server.tls -}}
{{- $_ := set $tls "certFile" (default (printf "%s/tls.crt" $dir) $tls.certFile) -}}
{{- $_ := set $tls "keyFile" (default (printf "%s/tls.key" $dir) $tls.keyFile) -}}
{{- if .Values.tls.clientCa -}}
{{- $_ := set $tls "clientCaFile" (default (printf "%s/ca.crt" $dir) $tls.clientCaFile) -}}
{{- end -}}
{{- $_ := set $server "tls" $tls -}}
{{- end -}}
{{- if (default (dict) $server.tls).certFile -}}
{{- $_ := set $server "healthAddress" (default (printf "0.0.0.0:%v" .Values.probes.healthPort) $server.healthAddress) -}}
{{- end -}}
{{- $mode := default "none" (default (dict) $server.auth).mode -}}
{{- if and (ne $mode "none") (not (hasKey $server "reflection")) -}}
{{- $_ := set $server "reflection" false -}}
{{- end -}}
{{- $_ := set $cfg "server" $server -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* Port of the plaintext health listener (config.server.healthAddress as
     rendered), or "" when there is none and the probes use the gRPC port. */}}
{{- define "code-executor.healthPort" -}}
{{- $server := (include "code-executor.serverConfig" . | fromYaml).server -}}
{{- with $server.healthAddress -}}
{{- include "code-executor.port" . -}}
{{- end -}}
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
{{- if and .Values.serviceAccount.tokenExpirationSeconds (not .Values.serviceAccount.automountServiceAccountToken) -}}
{{- fail "serviceAccount.tokenExpirationSeconds needs serviceAccount.automountServiceAccountToken: the executor calls the API with that token" -}}
{{- end -}}
{{- $auth := default (dict) $server.auth -}}
{{- $mode := toString (default "none" $auth.mode) -}}
{{- if and .Values.tls.clientCa (not .Values.tls.secretName) -}}
{{- fail "tls.clientCa needs tls.secretName (the client CA is the Secret's ca.crt)" -}}
{{- end -}}
{{- if and (eq $mode "mtls") (not .Values.tls.clientCa) -}}
{{- fail "config.server.auth.mode mtls needs tls.secretName and tls.clientCa: true (callers are identified by client certificates signed by the Secret's ca.crt)" -}}
{{- end -}}
{{- if and (eq $mode "token") (not $auth.allowedIdentities) -}}
{{- fail "config.server.auth.mode token needs config.server.auth.allowedIdentities (e.g. [\"system:serviceaccount:agents:adk-agent\"]): any pod can mint a token for any audience, so without a list the server refuses to start" -}}
{{- end -}}
{{- if and (eq $mode "none") $auth.allowedIdentities -}}
{{- fail "config.server.auth.allowedIdentities is set but config.server.auth.mode is none (set mode token or mtls): the server refuses to start" -}}
{{- end -}}
{{- $healthPort := include "code-executor.healthPort" . -}}
{{- if $healthPort -}}
{{- $ports := list (include "code-executor.port" $server.listenAddress) -}}
{{- if $server.metricsAddress -}}{{- $ports = append $ports (include "code-executor.port" $server.metricsAddress) -}}{{- end -}}
{{- if has $healthPort $ports -}}
{{- fail (printf "the health listener's port %s (probes.healthPort / config.server.healthAddress) must differ from the gRPC and metrics ports" $healthPort) -}}
{{- end -}}
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
