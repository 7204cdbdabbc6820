"""The shop: a small storefront in the spirit of WebArena's OneStopShop (Magento).

Catalogue with categories (sortable, paginated), search, product pages with reviews, cart, checkout, orders,
account with an editable address, and a wish list. Guests browse; buying, reviewing and the wish list need a
login (accounts in environments/web/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentevo.envs.sites.base import Clock, Site, logged_in, paginate
from agentevo.envs.sites.http import Request, Response, get, post, redirect

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
        sort = req.arg("sort", "name") if req.arg("sort") in SORTS else "name"
        cards = sorted((self.card(p) for p in products), key=lambda c: SORTS[sort][1](c, c["rating"]))
        shown, page, pages = paginate(cards, req.arg("p", "1"), PAGE_SIZE)
        sorts = {k: v[0] for k, v in SORTS.items()}
        first = (page - 1) * PAGE_SIZE + 1
        return self.render(
            "listing.html", req, products=shown, total=len(cards), first=first, page=page, pages=pages,
            sort=sort, sorts=sorts, **context,
        )  # fmt: skip

    def product_id(self, req: Request) -> int | None:
        pid = req.int_field("product_id")
        return pid if pid in self.state.products else None

    # --- catalogue ----------------------------------------------------------------------------------
    @get("/")
    def home(self, req: Request) -> Response:
        cards = [self.card(p) for p in self.state.products.values()]
        top = sorted(cards, key=lambda c: (-(c["rating"] or 0), -c["review_count"], c["id"]))[:8]
        return self.render("home.html", req, categories=self.state.categories, products=top)

    @get("/category/<slug>")
    def category_page(self, req: Request) -> Response:
        cat = self.category(req.params["slug"])
        if cat is None:
            return self.missing(req)
        products = [p for p in self.state.products.values() if p["category"] == cat["slug"]]
        base = f"/category/{cat['slug']}"
        return self.listing(req, products, heading=cat["name"], base=base, query="", category=cat)

    @get("/search")
    def search(self, req: Request) -> Response:
        query = req.arg("q").strip()
        words = query.lower().split()
        names = {c["slug"]: c["name"] for c in self.state.categories}
        found = [p for p in self.state.products.values() if words and matches(p, names[p["category"]], words)]
        heading = f"Search results for: '{query}'"
        return self.listing(req, found, heading=heading, base="/search", query=query, category=None)

    @get("/product/<slug>")
    def product(self, req: Request) -> Response:
        pid = self.state.slugs.get(req.params["slug"])
        if pid is None:
            return self.missing(req)
        p = self.state.products[pid]
        return self.render(
            "product.html", req, product=self.card(p), category=self.category(p["category"]),
            reviews=self.reviews_of(pid), message=req.arg("message"),
        )  # fmt: skip

    @post("/product/<slug>/review")
    @logged_in
    def review(self, req: Request, key: str) -> Response:
        slug = req.params["slug"]
        pid = self.state.slugs.get(slug)
        if pid is None:
            return self.missing(req)
        fields = {f: req.field(f) for f in ("nickname", "title", "text", "rating")}
        if not all(fields.values()) or fields["rating"] not in {"1", "2", "3", "4", "5"}:
            return redirect(f"/product/{slug}?message=review-incomplete#review-form")
        review = {"id": self.state.next_review, "product_id": pid, "author": fields["nickname"]}
        review |= {"rating": int(fields["rating"]), "title": fields["title"], "text": fields["text"]}
        self.state.reviews.append({**review, "created_at": self.state.clock.now(), "customer": key})
        self.state.next_review += 1
        return redirect(f"/product/{slug}?message=review-saved#reviews")

    # --- cart and checkout --------------------------------------------------------------------------
    @post("/cart/add")
    @logged_in
    def cart_add(self, req: Request, key: str) -> Response:
        pid = self.product_id(req)
        if pid is None:
            return self.missing(req)
        qty = req.int_field("qty") if req.field("qty") else 1  # an empty Qty box means one
        if not 1 <= qty <= 99:
            return redirect(f"/product/{self.state.products[pid]['slug']}?message=bad-qty")
        cart = self.state.carts.setdefault(key, [])
        line = next((line for line in cart if line["product_id"] == pid), None)
        if line is None:
            cart.append({"product_id": pid, "qty": qty})
        else:
            line["qty"] += qty
        return redirect("/cart?message=added")

    @post("/cart/remove")
    @logged_in
    def cart_remove(self, req: Request, key: str) -> Response:
        pid = req.int_field("product_id")
        self.state.carts[key] = [line for line in self.state.carts.get(key, []) if line["product_id"] != pid]
        return redirect("/cart")

    @get("/cart")
    @logged_in
    def cart(self, req: Request, key: str) -> Response:
        lines = self.cart_lines(key)
        total = sum(line["subtotal"] for line in lines)
        return self.render("cart.html", req, lines=lines, total=total, message=req.arg("message"))

    @get("/checkout")
    @logged_in
    def checkout(self, req: Request, key: str) -> Response:
        lines = self.cart_lines(key)
        if not lines:
            return redirect("/cart")
        subtotal = sum(line["subtotal"] for line in lines)
        customer = self.state.customers[key]
        return self.render(
            "checkout.html", req, lines=lines, subtotal=subtotal, shipping=SHIPPING, customer=customer,
            error=req.arg("error"),
        )  # fmt: skip

    @post("/checkout")
    @logged_in
    def place_order(self, req: Request, key: str) -> Response:
        lines, method = self.state.carts.get(key, []), req.field("shipping")
        if not lines:
            return redirect("/cart")
        if method not in SHIPPING:
            return redirect("/checkout?error=shipping")
        number = f"{max(int(o['number']) for o in self.state.orders) + 1:09d}"
        prices = {ln["product_id"]: self.state.products[ln["product_id"]]["price"] for ln in lines}
        items = [
            {"product_id": ln["product_id"], "qty": ln["qty"], "price": prices[ln["product_id"]]}
            for ln in lines
        ]
        order = {"number": number, "customer": key, "created_at": self.state.clock.now(), "status": "Pending"}
        address = dict(self.state.customers[key]["address"])
        self.state.orders.append({**order, "items": items, "shipping": method, "address": address})
        self.state.carts[key] = []
        return redirect(f"/account/orders/{number}?placed=1")

    # --- account ------------------------------------------------------------------------------------
    @get("/account")
    @logged_in
    def account(self, req: Request, key: str) -> Response:
        customer, recent = self.state.customers[key], self.my_orders(key)[:3]
        return self.render("account.html", req, customer=customer, orders=recent, message=req.arg("message"))

    @get("/account/address")
    @logged_in
    def address_form(self, req: Request, key: str) -> Response:
        return self.render("address.html", req, address=self.state.customers[key]["address"], error="")

    @post("/account/address")
    @logged_in
    def address_save(self, req: Request, key: str) -> Response:
        address = {n: req.field(n) for n in ("street", "city", "region", "postcode", "country", "phone")}
        if not all(address.values()):
            error = "Please fill in every field."
            return self.render("address.html", req, status=400, address=address, error=error)
        self.state.customers[key]["address"] = address
        return redirect("/account?message=address-saved")

    @get("/account/orders")
    @logged_in
    def orders(self, req: Request, key: str) -> Response:
        return self.render("orders.html", req, orders=self.my_orders(key))

    @get("/account/orders/latest")
    @logged_in
    def latest_order(self, req: Request, key: str) -> Response:
        # What WebArena's `shopping_get_latest_order_url()` helper finds, as a plain URL for program_html.
        mine = self.my_orders(key)
        return redirect(f"/account/orders/{mine[0]['number']}" if mine else "/account/orders")

    @get("/account/orders/<number>")
    @logged_in
    def order(self, req: Request, key: str) -> Response:
        found = next((o for o in self.my_orders(key) if o["number"] == req.params["number"]), None)
        if found is None:
            return self.missing(req)
        items = [{**i, "product": self.state.products[i["product_id"]]} for i in found["items"]]
        address = found.get("address") or self.state.customers[key]["address"]
        placed = req.arg("placed") == "1"
        return self.render("order.html", req, order=found, items=items, address=address, placed=placed)

    # --- wish list ----------------------------------------------------------------------------------
    @get("/wishlist")
    @logged_in
    def wishlist(self, req: Request, key: str) -> Response:
        items = [self.card(self.state.products[pid]) for pid in self.state.wishlists.setdefault(key, [])]
        return self.render("wishlist.html", req, items=items, message=req.arg("message"))

    @post("/wishlist/add")
    @logged_in
    def wishlist_add(self, req: Request, key: str) -> Response:
        pid = self.product_id(req)
        if pid is None:
            return self.missing(req)
        items = self.state.wishlists.setdefault(key, [])
        if pid not in items:
            items.append(pid)
        return redirect("/wishlist?message=added")

    @post("/wishlist/remove")
    @logged_in
    def wishlist_remove(self, req: Request, key: str) -> Response:
        pid = req.int_field("product_id")
        self.state.wishlists[key] = [i for i in self.state.wishlists.get(key, []) if i != pid]
        return redirect("/wishlist?message=removed")
