package jwtauth

// SetVerifiedCacheSize lowers the bound of the verified-token cache.
func SetVerifiedCacheSize(t *Tokens, n int) { t.maxVerified = n }

// VerifiedLen is the number of remembered tokens.
func VerifiedLen(t *Tokens) int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.verified)
}
