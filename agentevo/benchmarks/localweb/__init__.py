"""local-web (placeholder while building)."""
