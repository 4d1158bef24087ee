package oidc_test

import "github.com/tradesense/tradesense/core/secrets"

type secretValue = secrets.Secret

func newSecret(v string) secrets.Secret { return secrets.New(v, "") }
