"""The command line: parse arguments, call the library, render, exit. The only place that catches DeclsyncError."""
