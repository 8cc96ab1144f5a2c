output "release_name" {
  description = "Name of the Helm release."
  value       = helm_release.portcullis.name
}

output "namespace" {
  description = "Namespace Portcullis runs in."
  value       = helm_release.portcullis.namespace
}

output "service_name" {
  description = "Kubernetes Service of the API (port 80 -> 4000)."
  value       = strcontains(var.release_name, "portcullis") ? var.release_name : "${var.release_name}-portcullis"
}

output "graphql_url" {
  description = "Public GraphQL endpoint."
  value       = "${trimsuffix(var.public_url, "/")}/graphql"
}

output "secret_name" {
  description = "Secret the pods read their credentials from."
  value       = local.secret_name
}
