"""The local sites' seed data as the task templates need it: lookups and the facts the pages show.

Every figure a task expects (a price, a review count, an order total) is computed here from the same seed and
with the same functions the sites use to render their pages, so an answer key can never drift from a page.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from agentevo.envs.sites import ACCOUNTS, load_seed
from agentevo.envs.sites.base import money, nice_date
from agentevo.envs.sites.forum import post_url
from agentevo.envs.sites.shop import order_totals

ME_SHOP = ACCOUNTS["shop"]["key"]
ME_FORUM = ACCOUNTS["forum"]["key"]


@dataclass(frozen=True)
class SeedData:
    shop: dict[str, Any]
    forum: dict[str, Any]

    # --- shop ---------------------------------------------------------------------------------------
    @property
    def products(self) -> list[dict[str, Any]]:
        return self.shop["products"]

    @property
    def categories(self) -> list[dict[str, Any]]:
        return self.shop["categories"]

    def product(self, pid: int) -> dict[str, Any]:
        return next(p for p in self.products if p["id"] == pid)

    def in_category(self, slug: str) -> list[dict[str, Any]]:
        return [p for p in self.products if p["category"] == slug]

    def reviews_of(self, pid: int) -> list[dict[str, Any]]:
        """Newest first, as the product page lists them."""
        mine = [r for r in self.shop["reviews"] if r["product_id"] == pid]
        return sorted(mine, key=lambda r: (r["created_at"], r["id"]), reverse=True)

    def orders(self) -> list[dict[str, Any]]:
        """The task account's orders with their totals, newest first (as `My Orders` lists them)."""
        mine = [{**o, **order_totals(o)} for o in self.shop["orders"] if o["customer"] == ME_SHOP]
        return sorted(mine, key=lambda o: (o["created_at"], o["number"]), reverse=True)

    @property
    def wishlist(self) -> list[int]:
        return self.shop["wishlists"][ME_SHOP]

    @property
    def address(self) -> dict[str, str]:
        return next(c for c in self.shop["customers"] if c["id"] == ME_SHOP)["address"]

    # --- forum --------------------------------------------------------------------------------------
    @property
    def posts(self) -> list[dict[str, Any]]:
        return self.forum["posts"]

    @property
    def forums(self) -> list[str]:
        return [f["name"] for f in self.forum["forums"]]

    def comments_of(self, pid: int) -> list[dict[str, Any]]:
        return [c for c in self.forum["comments"] if c["post_id"] == pid]

    def my_vote(self, pid: int) -> int:
        return self.forum["votes"].get(ME_FORUM, {}).get(str(pid), 0)

    @property
    def subscriptions(self) -> list[str]:
        return self.forum["subscriptions"].get(ME_FORUM, [])

    @property
    def users(self) -> list[str]:
        return [u["name"] for u in self.forum["users"]]


@functools.cache
def seed_data() -> SeedData:
    return SeedData(shop=load_seed("shop"), forum=load_seed("forum"))


__all__ = ["ME_FORUM", "ME_SHOP", "SeedData", "money", "nice_date", "post_url", "seed_data"]
