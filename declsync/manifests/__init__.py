"""Manifests: discover YAML files, load them with limits, validate against the profile; write manifests for live resources (import)."""
