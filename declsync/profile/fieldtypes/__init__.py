"""The field types behind ``declsync.profile.types`` (the registry's one import)."""
