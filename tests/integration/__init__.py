"""Integration tests: the real adapters on real files, several processes where it matters."""
