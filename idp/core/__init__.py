"""Small shared helpers used across the provider (environment, checks, messaging backends)."""
