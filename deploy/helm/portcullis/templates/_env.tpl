{{/*
The environment of every Portcullis container (API, worker, migrations): one line per variable of
API.md "Environment". Plain settings come from .Values.config, credentials from the Secret.
RUN_WORKERS is set by each workload itself.
*/}}
{{- define "portcullis.env" -}}
{{- $secret := include "portcullis.secretName" . -}}
{{- $c := .Values.config -}}
- { name: NODE_ENV, value: {{ $c.nodeEnv | quote }} }
- { name: HOST, value: "0.0.0.0" }
- { name: PORT, value: "4000" }
- { name: DATA_DIR, value: {{ $c.dataDir | quote }} }
- { name: EMBEDDED_POSTGRES_PORT, value: {{ $c.embeddedPostgresPort | quote }} }
- { name: PUBLIC_URL, value: {{ $c.publicUrl | quote }} }
- { name: FRONTEND_URL, value: {{ $c.frontendUrl | quote }} }
- { name: ALLOWED_REDIRECTS, value: {{ join "," $c.allowedRedirects | quote }} }
- { name: CORS_ORIGINS, value: {{ join "," $c.corsOrigins | quote }} }
- { name: MAIL_FROM, value: {{ $c.mailFrom | quote }} }
- { name: SENDGRID_API_URL, value: {{ $c.sendgridApiUrl | quote }} }
- { name: SESSION_COOKIE, value: {{ $c.sessionCookie | quote }} }
- { name: ADMIN_EMAILS, value: {{ join "," $c.adminEmails | quote }} }
- { name: TRUST_PROXY, value: {{ join "," $c.trustProxy | quote }} }
- { name: GRAPHIQL, value: {{ $c.graphiql | toString | quote }} }
- { name: LOG_LEVEL, value: {{ $c.logLevel | quote }} }
- { name: REDIS_PREFIX, value: {{ $c.redisPrefix | quote }} }
- { name: RATE_LIMITS, value: {{ $c.rateLimits | quote }} }
- { name: DEV_OUTBOX, value: {{ $c.devOutbox | quote }} }
- { name: ACCESS_TOKEN_TTL, value: {{ $c.accessTokenTtl | quote }} }
- { name: WEBAUTHN_RP_ID, value: {{ $c.webauthnRpId | quote }} }
- { name: WEBAUTHN_ORIGINS, value: {{ join "," $c.webauthnOrigins | quote }} }
- { name: WEBHOOK_ALLOW_PRIVATE, value: {{ $c.webhookAllowPrivate | quote }} }
- { name: APP_NAME, value: {{ $c.appName | quote }} }
- { name: ACCOUNT_PAGES, value: {{ $c.accountPages | quote }} }
- { name: STARTUP_RETRY_SECONDS, value: {{ $c.startupRetrySeconds | quote }} }
{{- $providerIds := list }}
{{- range $c.oauthProviders }}{{ $providerIds = append $providerIds .id }}{{ end }}
- { name: OAUTH_PROVIDERS, value: {{ join "," $providerIds | quote }} }
{{- range $c.oauthProviders }}
{{- $key := printf "OAUTH_%s" (.id | upper | replace "-" "_") }}
- { name: {{ $key }}_CLIENT_ID, value: {{ .clientId | quote }} }
- name: {{ $key }}_CLIENT_SECRET
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: {{ $key }}_CLIENT_SECRET, optional: true } }
- { name: {{ $key }}_NAME, value: {{ .name | default "" | quote }} }
- { name: {{ $key }}_ISSUER, value: {{ .issuer | default "" | quote }} }
- { name: {{ $key }}_AUTHORIZATION_URL, value: {{ .authorizationUrl | default "" | quote }} }
- { name: {{ $key }}_TOKEN_URL, value: {{ .tokenUrl | default "" | quote }} }
- { name: {{ $key }}_API_URL, value: {{ .apiUrl | default "" | quote }} }
{{- end }}
- name: DATABASE_URL
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: DATABASE_URL } }
- name: REDIS_URL
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: REDIS_URL, optional: true } }
- name: SENDGRID_API_KEY
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: SENDGRID_API_KEY, optional: true } }
- name: SMTP_URL
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: SMTP_URL, optional: true } }
- name: METRICS_TOKEN
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: METRICS_TOKEN, optional: true } }
- name: ENCRYPTION_KEY
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: ENCRYPTION_KEY, optional: true } }
- name: ENCRYPTION_KEYS_OLD
  valueFrom: { secretKeyRef: { name: {{ $secret }}, key: ENCRYPTION_KEYS_OLD, optional: true } }
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}
