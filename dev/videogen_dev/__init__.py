"""The local development environment: a real control plane, a local GPU-pool node and S3 on loopback.

Nothing here is needed in production; tests and `make up` use it.
"""
