"""The REST API of the design document: thin views over the services."""
