package oauthtest_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/oauth/oauthtest"
)

func TestMemoryIdentitiesContract(t *testing.T) {
	oauthtest.Run(t, func(t *testing.T) oauthtest.Stores {
		return oauthtest.Stores{Identities: oauthtest.NewIdentities(), NewUser: func(*testing.T, string) uuid.UUID { return uuid.Must(uuid.NewV7()) }}
	})
}
