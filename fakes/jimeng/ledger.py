"""Per-session credit ledger: gift/purchase/vip buckets, expiring grants, daily claim."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

# The daily claim follows the China calendar day: gateways send time_zone Asia/Shanghai
# for every region, and that zone has no DST, so a fixed offset is exact.
SHANGHAI_OFFSET = 8 * 3600


def shanghai_day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts + SHANGHAI_OFFSET))


def next_shanghai_midnight(ts: float) -> int:
    local = int(ts) + SHANGHAI_OFFSET
    return local - local % 86400 + 86400 - SHANGHAI_OFFSET


class AlreadyClaimed(Exception):
    pass


@dataclass
class Grant:
    amount: int
    expires_at: int | None  # None: does not expire


@dataclass
class Charge:
    """What a charge took from each bucket, so a refund can put it back."""
    total: int
    gift: list[tuple[Grant, int]] = field(default_factory=list)
    vip: int = 0
    purchase: int = 0


class CreditLedger:
    def __init__(self, gift: int = 0, purchase: int = 0, vip: int = 0):
        self.grants: list[Grant] = [Grant(gift, None)] if gift else []
        self.purchase = purchase
        self.vip = vip
        self.claimed_days: set[str] = set()
        self.daily_quota: int | None = None  # None: the server-wide default
        self.entries: list[dict] = []

    def _live_grants(self, now: float) -> list[Grant]:
        self.grants = [g for g in self.grants
                       if g.amount > 0 and (g.expires_at is None or g.expires_at > now)]
        return self.grants

    def _log(self, now: float, delta: int, reason: str):
        self.entries.append({"t": round(now, 3), "delta": delta, "reason": reason,
                             "total": self.balance(now)["total"]})
        del self.entries[:-100]

    def balance(self, now: float) -> dict:
        gift = sum(g.amount for g in self._live_grants(now))
        return {"gift": gift, "purchase": self.purchase, "vip": self.vip,
                "total": gift + self.purchase + self.vip}

    def charge(self, now: float, cost: int, reason: str) -> Charge | None:
        """Take `cost` (gift first, soonest-expiring first, then vip, then purchase)."""
        if self.balance(now)["total"] < cost:
            return None
        charge, left = Charge(cost), cost
        for grant in sorted(self._live_grants(now),
                            key=lambda g: float("inf") if g.expires_at is None else g.expires_at):
            take = min(grant.amount, left)
            if take:
                grant.amount -= take
                charge.gift.append((grant, take))
                left -= take
        charge.vip = min(self.vip, left)
        self.vip -= charge.vip
        left -= charge.vip
        charge.purchase = left
        self.purchase -= left
        self._log(now, -cost, reason)
        return charge

    def refund(self, now: float, charge: Charge, reason: str):
        for grant, amount in charge.gift:
            grant.amount += amount
            if grant not in self.grants:
                self.grants.append(grant)
        self.vip += charge.vip
        self.purchase += charge.purchase
        self._log(now, charge.total, reason)

    def claim(self, now: float, quota: int) -> int:
        day = shanghai_day(now)
        if day in self.claimed_days:
            raise AlreadyClaimed(day)
        self.claimed_days.add(day)
        if quota > 0:
            self.grants.append(Grant(quota, next_shanghai_midnight(now)))
        self._log(now, quota, f"daily claim {day}")
        return quota

    def claimed_today(self, now: float) -> bool:
        return shanghai_day(now) in self.claimed_days

    def set_claimed_today(self, now: float, claimed: bool):
        day = shanghai_day(now)
        if claimed:
            self.claimed_days.add(day)
        else:
            self.claimed_days.discard(day)

    def set(self, now: float, gift: int | None = None, purchase: int | None = None,
            vip: int | None = None):
        if gift is not None:
            self.grants = [Grant(int(gift), None)] if int(gift) else []
        if purchase is not None:
            self.purchase = int(purchase)
        if vip is not None:
            self.vip = int(vip)
        self._log(now, 0, "set by control API")

    def user_credit_data(self, now: float) -> dict:
        """`data` of /commerce/v1/benefits/user_credit (§4.8)."""
        live = self._live_grants(now)
        balance = self.balance(now)
        expiring = [g for g in live if g.expires_at is not None]
        return {
            "credit": {"gift_credit": balance["gift"], "purchase_credit": self.purchase,
                       "vip_credit": self.vip},
            "expiring_credits": [{"credit_amount": g.amount, "expire_time": g.expires_at}
                                 for g in expiring],
            "credits_detail": {"gift_credits": [
                {"residual_credits": g.amount, "credits_life_end": g.expires_at or 0}
                for g in live]},
        }

    def snapshot(self, now: float) -> dict:
        return {**self.balance(now), "claimed_today": self.claimed_today(now),
                "claimed_days": sorted(self.claimed_days), "daily_quota": self.daily_quota,
                "entries": list(self.entries[-20:])}
