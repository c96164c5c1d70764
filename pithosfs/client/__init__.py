"""HTTP client for Pithos+ (and plain Swift), plus the store contract it implements."""
