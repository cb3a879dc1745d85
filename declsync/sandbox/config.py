"""Settings of one sandbox server: storage, profile, auth, rate limit and fault knobs."""

from __future__ import annotations

from dataclasses import dataclass, field

from declsync.errors import ConfigError
from declsync.profile.model import Profile

__all__ = ["ORGANIZATION_ID", "SandboxConfig"]

# Every sandbox resource belongs to this one organisation; there is no tenancy.
ORGANIZATION_ID = "org_sandbox"


@dataclass
class SandboxConfig:
    """How a sandbox behaves.

    With neither ``token`` nor ``clients`` the server is open (no auth), which is
    what the embedded loopback sandbox uses. ``latency``, ``fail_rate`` and
    ``rate_limit`` shape every ``/v1`` request; ``drop_rate`` loses the answer of
    committed writes; ``seed`` makes ``fail_rate`` and ``drop_rate`` reproducible.
    """

    db_path: str = ":memory:"
    profile: Profile | None = None
    token: str | None = None
    clients: dict[str, str] = field(default_factory=dict)
    token_ttl: int = 3600
    rate_limit: int | None = None
    latency: float = 0.0
    fail_rate: float = 0.0
    seed: int | None = None
    # Fraction of committed writes whose answer is lost (the connection drops mid-answer).
    drop_rate: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ConfigError(f"fail_rate must be between 0 and 1, got {self.fail_rate}")
        if not 0.0 <= self.drop_rate <= 1.0:
            raise ConfigError(f"drop_rate must be between 0 and 1, got {self.drop_rate}")
        if self.latency < 0:
            raise ConfigError(f"latency must not be negative, got {self.latency}")
        if self.rate_limit is not None and self.rate_limit < 1:
            raise ConfigError(f"rate_limit must be at least 1 request a minute, got {self.rate_limit}")
        if self.token_ttl < 0:
            raise ConfigError(f"token_ttl must not be negative, got {self.token_ttl}")
        for client_id, secret in self.clients.items():
            if not client_id or not secret:
                raise ConfigError("every sandbox client needs a non-empty id and secret")

    @property
    def auth_enabled(self) -> bool:
        return bool(self.token) or bool(self.clients)
