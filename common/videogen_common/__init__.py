"""Shared contracts between the videogen API, operator and runner (no Kubernetes or torch imports)."""
