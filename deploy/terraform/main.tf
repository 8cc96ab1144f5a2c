# Installs the Portcullis Helm chart. The credentials go into a Secret this module owns (or an
# existing one), never into the Helm release's values, which Helm stores in clear.

locals {
  secret_name = var.existing_secret != "" ? var.existing_secret : "${var.release_name}-credentials"
  values = {
    image = { repository = var.image_repository, tag = var.image_tag }
    api   = { replicas = var.api_replicas }
    autoscaling = {
      enabled                        = var.autoscaling.enabled
      minReplicas                    = var.autoscaling.min_replicas
      maxReplicas                    = var.autoscaling.max_replicas
      targetCPUUtilizationPercentage = var.autoscaling.target_cpu
    }
    ingress = {
      enabled   = var.ingress.enabled
      host      = var.ingress.host
      className = var.ingress.class_name
      tls       = { enabled = var.ingress.tls_secret_name != "", secretName = var.ingress.tls_secret_name }
    }
    serviceMonitor = { enabled = var.service_monitor }
    config         = merge({ publicUrl = var.public_url, frontendUrl = var.frontend_url }, var.config)
    secrets        = { existingSecret = local.secret_name }
  }
}

resource "kubernetes_namespace_v1" "this" {
  count = var.create_namespace ? 1 : 0
  metadata {
    name = var.namespace
  }
}

resource "kubernetes_secret_v1" "credentials" {
  count = var.existing_secret == "" ? 1 : 0
  metadata {
    name      = local.secret_name
    namespace = var.namespace
  }
  data       = var.secrets
  depends_on = [kubernetes_namespace_v1.this]
}

resource "helm_release" "portcullis" {
  name      = var.release_name
  namespace = var.namespace
  chart     = coalesce(var.chart_path, "${path.module}/../helm/portcullis")
  values    = concat([yamlencode(local.values)], var.extra_values)
  # The migration Job runs as a pre-install/pre-upgrade hook; wait for the rollout after it.
  wait            = true
  timeout         = 600
  atomic          = true
  cleanup_on_fail = true
  depends_on      = [kubernetes_secret_v1.credentials, kubernetes_namespace_v1.this]
}
