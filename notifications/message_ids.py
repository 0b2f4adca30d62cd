"""Message-IDs and their domain: pure functions, shared by the senders (notifications.sender)
and by the API, which plans account mails without loading any SMTP client."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit


def message_id_for(key: str, address: str, domain: str) -> str:
    """The same Message-ID for every attempt at the same (notice, address): a mail client
    folds the duplicate left by a worker that died between the SMTP reply and its record."""
    digest = hashlib.sha256(f"{key}\n{address.strip().lower()}".encode()).hexdigest()[:40]
    return f"<{digest}@{domain}>"


def message_id_domain(public_base_url: str) -> str:
    """The right-hand side of passnum's Message-IDs: the app's public host name."""
    return urlsplit(public_base_url.rstrip("/")).hostname or "passnum.localhost"
