"""The REST API (docs/api.md): thin views over the services."""
