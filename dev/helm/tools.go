//go:build tools

// Package helm lists the command built from this module, so that `go mod tidy` keeps it.
package helm

import _ "helm.sh/helm/v4/cmd/helm"
