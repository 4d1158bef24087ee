package blobtest_test

import (
	"testing"

	"github.com/tradesense/tradesense/core/blob"
	"github.com/tradesense/tradesense/core/blob/blobtest"
)

func TestMemContract(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return blobtest.NewMem() })
}
