package memory_test

import (
	"testing"

	"github.com/tradesense/tradesense/adapters/memory"
	"github.com/tradesense/tradesense/core/shortlived"
	"github.com/tradesense/tradesense/core/shortlived/shortlivedtest"
)

func TestShortLivedContract(t *testing.T) {
	shortlivedtest.Run(t, func(t *testing.T) shortlived.Store { return memory.NewShortLived() })
}
