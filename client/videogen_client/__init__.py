"""The videogen client: a command line for the REST API (``videogen``), with no torch and no Kubernetes client."""
