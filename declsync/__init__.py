"""declsync: declarative, reviewable sync of YAML manifests to a REST business API."""

__version__ = "0.1.0"
__all__ = ["__version__"]
