"""The webhook package's dependency alias: the container's webhook service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from lettering.core.deps import provided
from lettering.webhook.service import WebhookService

WebhooksDep = Annotated[WebhookService, Depends(provided(WebhookService))]
