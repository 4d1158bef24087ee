package mfatest_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/mfa/mfatest"
)

func TestMemStoreContract(t *testing.T) {
	mfatest.Run(t, func(t *testing.T) mfatest.Stores {
		m := mfatest.NewMemStore()
		return mfatest.Stores{Factors: m, BackupCodes: m, NewUser: func(*testing.T) uuid.UUID { return uuid.New() }}
	})
}
