"""The saved plan file: its own versioned encoding (schema, migrations, secret rules), not a view."""
