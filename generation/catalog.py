"""The model registry: each public model id → provider, capabilities, regions and defaults.

Each driver package contributes its models in its own `catalog` module; this module only joins
them, applies aliases and answers which models the current pool can serve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from django.conf import settings
from django.utils.module_loading import import_string

IMAGE_GENERATE = "image.generate"
IMAGE_EDIT = "image.edit"
IMAGE_COMPOSE = "image.compose"
VIDEO_GENERATE = "video.generate"



@dataclass(frozen=True)
class ModelSpec:
    id: str
    provider: str
    capabilities: frozenset[str]
    upstream: str = ""                        # the upstream's own name or key for it
    regions: tuple[str, ...] | None = None    # accounts of these regions can serve it (None: any)
    defaults: dict = field(default_factory=dict, hash=False, compare=False)
    owned_by: str = ""
    created: int = 1735689600                 # a stable timestamp; clients only display it
    description: str = ""

    def can(self, capability: str) -> bool:
        return capability in self.capabilities


@lru_cache(maxsize=1)
def all_models() -> dict[str, ModelSpec]:
    models: dict[str, ModelSpec] = {}
    for provider, path in settings.GATEWAY_CATALOGS.items():
        if provider in settings.GATEWAY_DRIVERS:
            for spec in import_string(path):
                models[spec.id] = spec
    return models


def resolve(model_id: str | None, *, default: str | None = None) -> ModelSpec | None:
    """The spec for a requested id (aliases applied), or None when it is unknown or disabled."""
    name = model_id or default or settings.DEFAULT_IMAGE_MODEL
    name = settings.MODEL_ALIASES.get(name, name)
    return None if name in settings.DISABLED_MODELS else all_models().get(name)


def not_found_message(name: str) -> str:
    """Why `resolve(name)` found nothing, for the 404."""
    target = settings.MODEL_ALIASES.get(name, name)
    if target in settings.DISABLED_MODELS and target in all_models():
        return (f"The model '{name}' is disabled on this gateway (DISABLED_MODELS): its upstream refuses "
                "requests that do not come from its own web page.")
    return f"The model '{name}' does not exist."


def servable_models() -> list[ModelSpec]:
    """Models at least one usable account can serve right now."""
    from accounts.models import Account

    usable = [a for a in Account.objects.all() if a.is_usable()]
    out = []
    for spec in all_models().values():
        if spec.id in settings.DISABLED_MODELS:
            continue
        if any(a.provider == spec.provider and (spec.regions is None or a.region in spec.regions) for a in usable):
            out.append(spec)
    return sorted(out, key=lambda s: s.id)
