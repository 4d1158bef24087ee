//go:build !linux

package cli

// releaseStartupPages releases nothing off Linux (see the Linux file).
func releaseStartupPages() int64 { return 0 }
