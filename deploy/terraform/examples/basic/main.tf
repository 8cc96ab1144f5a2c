# Example root module: Portcullis on the cluster of the current kubeconfig context, with
# credentials from variables (e.g. TF_VAR_database_url in CI).

variable "kubeconfig_path" {
  type        = string
  description = "Path of the kubeconfig file."
  default     = "~/.kube/config"
}

variable "database_url" {
  type        = string
  description = "PostgreSQL connection string (postgresql://…)."
  sensitive   = true
}

variable "redis_url" {
  type        = string
  description = "Redis connection string (redis:// or rediss://)."
  sensitive   = true
}

variable "encryption_key" {
  type        = string
  description = "ENCRYPTION_KEY: 32 random bytes, base64 (openssl rand -base64 32)."
  sensitive   = true
}

provider "kubernetes" {
  config_path = var.kubeconfig_path
}

provider "helm" {
  kubernetes {
    config_path = var.kubeconfig_path
  }
}

module "portcullis" {
  source           = "../.."
  image_repository = "registry.example.com/portcullis"
  image_tag        = "0.1.0"
  public_url       = "https://auth.example.com"
  frontend_url     = "https://app.example.com"
  api_replicas     = 3
  ingress          = { enabled = true, host = "auth.example.com", tls_secret_name = "auth-example-com-tls" }
  config           = { sessionCookie = true, trustProxy = ["10.0.0.0/8"] }
  secrets = {
    DATABASE_URL   = var.database_url
    REDIS_URL      = var.redis_url
    ENCRYPTION_KEY = var.encryption_key
  }
}

output "graphql_url" {
  description = "Public GraphQL endpoint."
  value       = module.portcullis.graphql_url
}
