// Package gen holds the server interface and models generated from
// ../openapi.yaml by oapi-codegen. Do not edit api.gen.go: change the spec and
// run `task gen`.
package gen

//go:generate go tool oapi-codegen -config config.yaml ../openapi.yaml
