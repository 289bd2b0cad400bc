"""Models and health: the parts of the API that are not about one job."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Account
from api.errors import ApiError
from generation import catalog
from generation.models import Generation


def model_object(spec: catalog.ModelSpec) -> dict:
    return {"id": spec.id, "object": "model", "created": spec.created, "owned_by": spec.owned_by or spec.provider}


class ModelListView(APIView):
    def get(self, request):
        models = catalog.servable_models()
        if not request.user.allowed_models:
            visible = models
        else:
            visible = [m for m in models if request.user.may_use(m.id)]
        return Response({"object": "list", "data": [model_object(m) for m in visible]})


class ModelDetailView(APIView):
    def get(self, request, model_id: str):
        spec = catalog.resolve(model_id)
        if spec is None:
            raise ApiError(404, catalog.not_found_message(model_id), code="model_not_found", param="model")
        if spec not in catalog.servable_models():
            raise ApiError(404, f"The model '{model_id}' exists but no usable account can serve it now.",
                           code="model_not_found", param="model")
        if not request.user.may_use(spec.id):
            raise ApiError.forbidden(f"This API key may not use the model '{spec.id}'.", code="model_not_allowed",
                                     param="model")
        return Response(model_object(spec))


class HealthView(APIView):
    """No authentication needed, and never a secret. Without a valid API key: the status and
    counts only (per provider and state, and each account's load and cooldown, unnamed). With one
    (`Authorization: Bearer <key>`): each account's name, state reason and last error as well.
    A missing, wrong or disabled key gets the public answer, never a 401: monitors need no key."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request):
        now = timezone.now()
        detailed = _has_valid_key(request)
        accounts = list(Account.objects.order_by("provider", "name"))
        running = Generation.objects.filter(status="running").count()
        queued = Generation.objects.filter(status="queued").count()
        max_concurrent = Account.objects.exclude(state="disabled").aggregate(n=Sum("max_concurrency"))["n"] or 0
        available = {a.pk for a in accounts if a.is_usable(now) and a.active_leases < a.max_concurrency}
        providers: dict[str, dict] = {}
        for a in accounts:
            entry = providers.setdefault(a.provider, {"total": 0, "available": 0, "states": {}})
            entry["total"] += 1
            entry["available"] += a.pk in available
            state = a.effective_state(now)
            entry["states"][state] = entry["states"].get(state, 0) + 1
        return Response({
            "status": "ok" if any(a.is_usable(now) for a in accounts) else "degraded",
            "concurrent_tasks": sum(a.active_leases for a in accounts),
            "max_concurrent": max_concurrent,
            "queued_tasks": queued,
            "running_tasks": running,
            "accounts_total": len(accounts),
            "accounts_available": len(available),
            "providers": providers,
            "accounts": [_account_health(a, now, detailed) for a in accounts],
            "queue": {"broker": "redis" if settings.REDIS_URL else "orm", "active_jobs": queued + running},
        })


def _has_valid_key(request) -> bool:
    from api.authentication import bearer_token, lookup

    raw = bearer_token(request)
    return bool(raw) and lookup(raw) is not None


def _account_health(a: Account, now, detailed: bool) -> dict:
    """One account's line: its load and state for anyone; who it is and what last went wrong
    (which may name the upstream's answer) only for a caller with an API key."""
    entry = {
        "provider": a.provider,
        "state": a.effective_state(now),
        "enabled": a.enabled,
        "active_tasks": a.active_leases,
        "max_concurrency": a.max_concurrency,
        "in_cooldown": a.cooldown_remaining(now) > 0,
        "cooldown_remaining": round(a.cooldown_remaining(now), 1),
    }
    if detailed:
        entry = {
            "account_id": a.name,
            "id": a.pk,
            "region": a.region or None,
            **entry,
            "state_reason": a.state_reason or None,
            "probation": a.probation,
            "last_used_at": a.last_used_at,
            "last_error": a.last_error or None,
        }
    return entry
