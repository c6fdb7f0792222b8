"""Hardening: fuzzed images, Spaces config, container, failing backends, secrets in logs."""
