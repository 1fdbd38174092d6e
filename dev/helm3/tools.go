//go:build tools

// Package helm3 lists the command built from this module, so that `go mod tidy` keeps it.
package helm3

import _ "helm.sh/helm/v3/cmd/helm"
