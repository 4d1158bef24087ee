package memory

// CleanUp runs otter's pending maintenance (evictions) now, so that tests
// can assert the bound without racing the background cycle.
func (m *Cache) CleanUp() { m.c.CleanUp() }
