"""The /api/v1 endpoint groups."""
