"""The shop: a small storefront in the spirit of WebArena's OneStopShop (Magento).

Catalogue with categories (sortable, paginated), search, product pages with reviews, cart, checkout, orders,
account with an editable address, and a wish list. Guests browse; buying, reviewing and the wish list need a
login (accounts in environments/web/README.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from agentevo.envs.sites.base import Clock, Site
from agentevo.envs.sites.http import Request, Response, redirect

PAGE_SIZE = 8
SHIPPING = {"Standard": 500, "Express": 1500}
SORTS = {
    "name": ("Name", lambda p, r: (p["name"].lower(), p["id"])),
    "price_asc": ("Price: low to high", lambda p, r: (p["price"], p["id"])),
    "price_desc": ("Price: high to low", lambda p, r: (-p["price"], p["id"])),
    "rating": ("Rating", lambda p, r: (-(r or 0), p["name"].lower(), p["id"])),
}


@dataclass
class ShopState:
    categories: list[dict[str, Any]]
    products: dict[int, dict[str, Any]]
    reviews: list[dict[str, Any]]
    customers: dict[str, dict[str, Any]]
    orders: list[dict[str, Any]]
    wishlists: dict[str, list[int]]
    carts: dict[str, list[dict[str, int]]]
    clock: Clock
    next_review: int = 0
    slugs: dict[str, int] = field(default_factory=dict)


def order_totals(order: dict[str, Any]) -> dict[str, int]:
    subtotal = sum(i["price"] * i["qty"] for i in order["items"])
    shipping = SHIPPING[order["shipping"]]
    return {"subtotal": subtotal, "shipping_cost": shipping, "total": subtotal + shipping}


def matches(product: dict[str, Any], category: str, words: list[str]) -> bool:
    haystack = f"{product['name']} {category}".lower()
    return all(w in haystack for w in words)


class Shop(Site):
    name = "shop"
    title = "One Stop Market"
    cookie = "shop_session"

    def build_state(self, seed: dict[str, Any]) -> ShopState:
        products = {p["id"]: dict(p) for p in seed["products"]}
        return ShopState(
            categories=seed["categories"],
            products=products,
            reviews=[dict(r) for r in seed["reviews"]],
            customers={c["id"]: dict(c) for c in seed["customers"]},
            orders=[dict(o) for o in seed["orders"]],
            wishlists={k: list(v) for k, v in seed["wishlists"].items()},
            carts={k: list(v) for k, v in seed["carts"].items()},
            clock=Clock(seed["now"]),
            next_review=max(r["id"] for r in seed["reviews"]) + 1,
            slugs={p["slug"]: p["id"] for p in seed["products"]},
        )

    def login_key(self, username: str, password: str) -> str | None:
        for key, c in self.state.customers.items():
            if c["email"].lower() == username.strip().lower() and c["password"] == password:
                return key
        return None

    def page_context(self) -> dict[str, Any]:
        return {"nav_categories": self.state.categories, "login_label": "Email"}

    def display_name(self, key: str) -> str:
        customer = self.state.customers.get(key)
        return customer["name"] if customer else key

    # --- queries ------------------------------------------------------------------------------------
    def reviews_of(self, pid: int) -> list[dict[str, Any]]:
        mine = [r for r in self.state.reviews if r["product_id"] == pid]
        return sorted(mine, key=lambda r: (r["created_at"], r["id"]), reverse=True)

    def rating(self, pid: int) -> float | None:
        ratings = [r["rating"] for r in self.state.reviews if r["product_id"] == pid]
        return round(sum(ratings) / len(ratings), 1) if ratings else None

    def card(self, product: dict[str, Any]) -> dict[str, Any]:
        reviews = [r for r in self.state.reviews if r["product_id"] == product["id"]]
        return {**product, "rating": self.rating(product["id"]), "review_count": len(reviews)}

    def category(self, slug: str) -> dict[str, Any] | None:
        return next((c for c in self.state.categories if c["slug"] == slug), None)

    def cart_lines(self, key: str) -> list[dict[str, Any]]:
        lines = []
        for line in self.state.carts.setdefault(key, []):
            product = self.state.products[line["product_id"]]
            lines.append({"product": product, "qty": line["qty"], "subtotal": product["price"] * line["qty"]})
        return lines

    def my_orders(self, key: str) -> list[dict[str, Any]]:
        mine = [{**o, **order_totals(o)} for o in self.state.orders if o["customer"] == key]
        return sorted(mine, key=lambda o: (o["created_at"], o["number"]), reverse=True)

    def listing(self, req: Request, products: list[dict[str, Any]], **context: Any) -> Response:
        sort = req.arg("sort", "name")
        if sort not in SORTS:
            sort = "name"
        cards = sorted((self.card(p) for p in products), key=lambda c: SORTS[sort][1](c, c["rating"]))
        pages = max(1, math.ceil(len(cards) / PAGE_SIZE))
        try:
            page = min(max(1, int(req.arg("p", "1"))), pages)
        except ValueError:
            page = 1
        shown = cards[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        return self.render(
            "listing.html",
            req,
            products=shown,
            total=len(cards),
            first=(page - 1) * PAGE_SIZE + 1,
            page=page,
            pages=pages,
            sort=sort,
            sorts={k: v[0] for k, v in SORTS.items()},
            **context,
        )

    # --- pages --------------------------------------------------------------------------------------
    def routes(self) -> None:
        app, st = self.app, lambda: self.state

        @app.get("/")
        def home(req: Request) -> Response:
            cards = [self.card(p) for p in st().products.values()]
            top = sorted(cards, key=lambda c: (-(c["rating"] or 0), -c["review_count"], c["id"]))[:8]
            return self.render("home.html", req, categories=st().categories, products=top)

        @app.get("/category/<slug>")
        def category(req: Request) -> Response:
            cat = self.category(req.params["slug"])
            if cat is None:
                return self.app.not_found(req)
            products = [p for p in st().products.values() if p["category"] == cat["slug"]]
            base = f"/category/{cat['slug']}"
            return self.listing(req, products, heading=cat["name"], base=base, query="", category=cat)

        @app.get("/search")
        def search(req: Request) -> Response:
            query = req.arg("q").strip()
            words = query.lower().split()
            names = {c["slug"]: c["name"] for c in st().categories}
            found = [p for p in st().products.values() if words and matches(p, names[p["category"]], words)]
            heading = f"Search results for: '{query}'"
            return self.listing(req, found, heading=heading, base="/search", query=query, category=None)

        @app.get("/product/<slug>")
        def product(req: Request) -> Response:
            pid = st().slugs.get(req.params["slug"])
            if pid is None:
                return self.app.not_found(req)
            p = st().products[pid]
            return self.render(
                "product.html",
                req,
                product=self.card(p),
                category=self.category(p["category"]),
                reviews=self.reviews_of(pid),
                message=req.arg("message"),
            )

        @app.post("/product/<slug>/review")
        def review(req: Request) -> Response:
            key, pid = self.user(req), st().slugs.get(req.params["slug"])
            if pid is None:
                return self.app.not_found(req)
            if key is None:
                return self.login_required(req)
            fields = {f: req.field(f) for f in ("nickname", "title", "text", "rating")}
            if not all(fields.values()) or fields["rating"] not in {"1", "2", "3", "4", "5"}:
                return redirect(f"/product/{req.params['slug']}?message=review-incomplete#review-form")
            st().reviews.append(
                {
                    "id": st().next_review,
                    "product_id": pid,
                    "author": fields["nickname"],
                    "rating": int(fields["rating"]),
                    "title": fields["title"],
                    "text": fields["text"],
                    "created_at": st().clock.now(),
                    "customer": key,
                }
            )
            st().next_review += 1
            return redirect(f"/product/{req.params['slug']}?message=review-saved#reviews")

        @app.post("/cart/add")
        def cart_add(req: Request) -> Response:
            key, pid = self.user(req), req.int_field("product_id")
            if key is None:
                return self.login_required(req)
            product = st().products.get(pid)
            if product is None:
                return self.app.not_found(req)
            qty = req.int_field("qty") if req.field("qty") else 1  # an empty Qty box means one
            if qty < 1 or qty > 99:
                return redirect(f"/product/{product['slug']}?message=bad-qty")
            cart = st().carts.setdefault(key, [])
            line = next((line for line in cart if line["product_id"] == pid), None)
            if line is None:
                cart.append({"product_id": pid, "qty": qty})
            else:
                line["qty"] += qty
            return redirect("/cart?message=added")

        @app.post("/cart/remove")
        def cart_remove(req: Request) -> Response:
            key = self.user(req)
            if key is None:
                return self.login_required(req)
            pid = req.int_field("product_id")
            st().carts[key] = [line for line in st().carts.get(key, []) if line["product_id"] != pid]
            return redirect("/cart")

        @app.get("/cart")
        def cart(req: Request) -> Response:
            key = self.user(req)
            if key is None:
                return self.login_required(req)
            lines = self.cart_lines(key)
            total = sum(line["subtotal"] for line in lines)
            return self.render("cart.html", req, lines=lines, total=total, message=req.arg("message"))

        @app.get("/checkout")
        def checkout(req: Request) -> Response:
            key = self.user(req)
            if key is None:
                return self.login_required(req)
            lines = self.cart_lines(key)
            if not lines:
                return redirect("/cart")
            return self.render(
                "checkout.html",
                req,
                lines=lines,
                subtotal=sum(line["subtotal"] for line in lines),
                shipping=SHIPPING,
                customer=st().customers[key],
                error=req.arg("error"),
            )

        @app.post("/checkout")
        def place_order(req: Request) -> Response:
            key = self.user(req)
            if key is None:
                return self.login_required(req)
            lines = st().carts.get(key, [])
            method = req.field("shipping")
            if not lines:
                return redirect("/cart")
            if method not in SHIPPING:
                return redirect("/checkout?error=shipping")
            number = f"{max(int(o['number']) for o in st().orders) + 1:09d}"
            items = [
                {
                    "product_id": ln["product_id"],
                    "qty": ln["qty"],
                    "price": st().products[ln["product_id"]]["price"],
                }
                for ln in lines
            ]
            st().orders.append(
                {
                    "number": number,
                    "customer": key,
                    "created_at": st().clock.now(),
                    "status": "Pending",
                    "items": items,
                    "shipping": method,
                    "address": dict(st().customers[key]["address"]),
                }
            )
            st().carts[key] = []
            return redirect(f"/account/orders/{number}?placed=1")

        self.account_routes()

    def account_routes(self) -> None:
        app, st = self.app, lambda: self.state

        @app.get("/account")
        def account(req: Request) -> Response:
            key = self.user(req)
            if key is None:
                return self.login_required(req)
            recent = self.my_orders(key)[:3]
            customer = st().customers[key]
            return self.render(
                "account.html", req, customer=customer, orders=recent, message=req.arg("message")
            )

        @app.get("/account/address")
        def address_form(req: Request) -> Response:
            key = self.user(req)
            if key is None:
                return self.login_required(req)
            return self.render("address.html", req, address=st().customers[key]["address"], error="")

        @app.post("/account/address")
        def address_save(req: Request) -> Response:
            key = self.user(req)
            if key is None:
                return self.login_required(req)
            names = ("street", "city", "region", "postcode", "country", "phone")
            address = {n: req.field(n) for n in names}
            if not all(address.values()):
                error = "Please fill in every field."
                return self.render("address.html", req, status=400, address=address, error=error)
            st().customers[key]["address"] = address
            return redirect("/account?message=address-saved")

        @app.get("/account/orders")
        def orders(req: Request) -> Response:
            key = self.user(req)
            if key is None:
                return self.login_required(req)
            return self.render("orders.html", req, orders=self.my_orders(key))

        @app.get("/account/orders/latest")
        def latest_order(req: Request) -> Response:
            # What WebArena's `shopping_get_latest_order_url()` helper finds, as a plain URL for program_html.
            key = self.user(req)
            if key is None:
                return self.login_required(req)
            mine = self.my_orders(key)
            return redirect(f"/account/orders/{mine[0]['number']}" if mine else "/account/orders")

        @app.get("/account/orders/<number>")
        def order(req: Request) -> Response:
            key = self.user(req)
            if key is None:
                return self.login_required(req)
            found = next((o for o in self.my_orders(key) if o["number"] == req.params["number"]), None)
            if found is None:
                return self.app.not_found(req)
            items = [{**i, "product": st().products[i["product_id"]]} for i in found["items"]]
            address = found.get("address") or st().customers[key]["address"]
            placed = req.arg("placed") == "1"
            return self.render("order.html", req, order=found, items=items, address=address, placed=placed)

        @app.get("/wishlist")
        def wishlist(req: Request) -> Response:
            key = self.user(req)
            if key is None:
                return self.login_required(req)
            items = [self.card(st().products[pid]) for pid in st().wishlists.setdefault(key, [])]
            return self.render("wishlist.html", req, items=items, message=req.arg("message"))

        @app.post("/wishlist/add")
        def wishlist_add(req: Request) -> Response:
            key = self.user(req)
            if key is None:
                return self.login_required(req)
            pid = req.int_field("product_id")
            if pid not in st().products:
                return self.app.not_found(req)
            items = st().wishlists.setdefault(key, [])
            if pid not in items:
                items.append(pid)
            return redirect("/wishlist?message=added")

        @app.post("/wishlist/remove")
        def wishlist_remove(req: Request) -> Response:
            key = self.user(req)
            if key is None:
                return self.login_required(req)
            pid = req.int_field("product_id")
            st().wishlists[key] = [i for i in st().wishlists.get(key, []) if i != pid]
            return redirect("/wishlist?message=removed")
