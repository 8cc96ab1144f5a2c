variable "release_name" {
  type        = string
  description = "Name of the Helm release (and prefix of the Kubernetes objects)."
  default     = "portcullis"
  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?$", var.release_name))
    error_message = "release_name must be a DNS label of at most 53 characters."
  }
}

variable "namespace" {
  type        = string
  description = "Namespace to install into."
  default     = "portcullis"
}

variable "create_namespace" {
  type        = bool
  description = "Create the namespace (false: it exists already)."
  default     = true
}

variable "chart_path" {
  type        = string
  description = "Path of the chart; defaults to the chart in this repository."
  default     = null
}

variable "image_repository" {
  type        = string
  description = "Container image of Portcullis (built from the repository's Dockerfile)."
}

variable "image_tag" {
  type        = string
  description = "Image tag; empty uses the chart's appVersion."
  default     = ""
}

variable "public_url" {
  type        = string
  description = "PUBLIC_URL: the API's public URL (OAuth redirect URI base)."
  validation {
    condition     = can(regex("^https?://[^\\s/]+", var.public_url))
    error_message = "public_url must be an http(s) URL."
  }
}

variable "frontend_url" {
  type        = string
  description = "FRONTEND_URL: base of the links in emails."
  validation {
    condition     = can(regex("^https?://[^\\s/]+", var.frontend_url))
    error_message = "frontend_url must be an http(s) URL."
  }
}

variable "api_replicas" {
  type        = number
  description = "API replicas when autoscaling is off."
  default     = 2
  validation {
    condition     = var.api_replicas >= 1 && floor(var.api_replicas) == var.api_replicas
    error_message = "api_replicas must be a whole number of at least 1."
  }
}

variable "autoscaling" {
  type = object({
    enabled      = bool
    min_replicas = number
    max_replicas = number
    target_cpu   = number
  })
  description = "HorizontalPodAutoscaler of the API Deployment."
  default     = { enabled = false, min_replicas = 2, max_replicas = 10, target_cpu = 70 }
  validation {
    condition     = var.autoscaling.min_replicas >= 1 && var.autoscaling.max_replicas >= var.autoscaling.min_replicas
    error_message = "autoscaling needs 1 <= min_replicas <= max_replicas."
  }
}

variable "ingress" {
  type = object({
    enabled         = bool
    host            = string
    class_name      = optional(string, "nginx")
    tls_secret_name = optional(string, "")
  })
  description = "Ingress in front of the API (WebSocket-friendly timeouts for ingress-nginx); TLS when tls_secret_name is set."
  default     = { enabled = false, host = "auth.example.com" }
}

variable "config" {
  type        = map(any)
  description = "Extra chart values under `config` (API.md Environment in camelCase, e.g. { sessionCookie = true, trustProxy = [\"10.0.0.0/8\"] })."
  default     = {}
}

variable "existing_secret" {
  type        = string
  description = "Name of an existing Secret holding DATABASE_URL, REDIS_URL, ENCRYPTION_KEY and the other credentials; empty: the module creates one from `secrets`."
  default     = ""
}

variable "secrets" {
  type        = map(string)
  description = "Credentials by environment variable name (DATABASE_URL, REDIS_URL, SENDGRID_API_KEY, METRICS_TOKEN, ENCRYPTION_KEY, OAUTH_<ID>_CLIENT_SECRET …), used when existing_secret is empty."
  default     = {}
  sensitive   = true
  validation {
    condition     = alltrue([for k in keys(var.secrets) : can(regex("^[A-Z][A-Z0-9_]*$", k))])
    error_message = "secret keys are environment variable names (upper case, digits, _)."
  }
}

variable "service_monitor" {
  type        = bool
  description = "Create a ServiceMonitor (needs the Prometheus Operator CRDs and METRICS_TOKEN)."
  default     = false
}

variable "extra_values" {
  type        = list(string)
  description = "More values files (YAML text) for the chart, applied last."
  default     = []
}
