"""Contract tests: every request declsync sends and every answer the sandbox gives, checked
against the published OpenAPI documents the bundled profile is compiled from (openapi-core)."""
