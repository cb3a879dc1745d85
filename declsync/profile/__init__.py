"""Profiles: the resource model (bundled, a profile file, or compiled from an OpenAPI document), its formats, its JSON Schema and its listing."""
