"""The task templates of `local-web`: WebArena-style intents whose instances, answers and reference action
sequences are all computed from the local sites' seed data.

A template yields every instance the seed allows (its candidates); the committed suite takes a few of them,
and `make_instances` draws fresh ones from the rest. An instance carries the config's `eval` block and a
reference solution addressed by role and accessible name (see `reference.py`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from agentevo.benchmarks.localweb.data import ME_FORUM, SeedData, money, nice_date, post_url
from agentevo.envs.sites.shop import PAGE_SIZE, SHIPPING

SHOP, FORUM = "__SHOP__", "__FORUM__"
PLACEHOLDERS = {"shop": SHOP, "forum": FORUM}
SLOT = re.compile(r"\{\{(\w+)\}\}")


@dataclass(frozen=True)
class Instance:
    values: dict[str, str]
    eval: dict[str, Any]
    reference: list[dict[str, Any]]
    start: str = "/"


@dataclass(frozen=True)
class Template:
    id: int
    site: str
    intent: str
    candidates: Callable[[SeedData], Iterator[Instance]] = field(repr=False)
    mutates: bool = False

    def render(self, values: dict[str, str]) -> str:
        return SLOT.sub(lambda m: values[m.group(1)], self.intent)


TEMPLATES: dict[int, Template] = {}


def template(tid: int, site: str, intent: str, *, mutates: bool = False) -> Callable[..., Any]:
    def register(fn: Callable[[SeedData], Iterator[Instance]]) -> Callable[[SeedData], Iterator[Instance]]:
        TEMPLATES[tid] = Template(tid, site, intent, fn, mutates)
        return fn

    return register


# --- eval blocks (WebArena config schema) ---------------------------------------------------------------
def evaluation(types: list[str], **fields: Any) -> dict[str, Any]:
    block: dict[str, Any] = {
        "eval_types": types,
        "reference_answers": None,
        "reference_url": "",
        "program_html": [],
        "string_note": "",
        "reference_answer_raw_annotation": "",
    }
    block.update(fields)
    return block


def must_include(*items: str) -> dict[str, Any]:
    return evaluation(
        ["string_match"],
        reference_answers={"must_include": list(items)},
        reference_answer_raw_annotation=items[0],
    )


def exact(answer: str) -> dict[str, Any]:
    return evaluation(
        ["string_match"], reference_answers={"exact_match": answer}, reference_answer_raw_annotation=answer
    )


def not_achievable(note: str) -> dict[str, Any]:
    return evaluation(["string_match"], reference_answers={"exact_match": "N/A"}, string_note=note)


def url_is(url: str) -> dict[str, Any]:
    return evaluation(["url_match"], reference_url=url, url_note="GOLD in PRED")


def check(
    url: str, locator: str, *, must: list[str] | None = None, equals: str | None = None
) -> dict[str, Any]:
    contents = {"must_include": must} if must is not None else {"exact_match": equals}
    return {"url": url, "locator": locator, "required_contents": contents}


def html(*checks: dict[str, Any]) -> dict[str, Any]:
    return evaluation(["program_html"], program_html=list(checks))


# --- reference actions (by role and accessible name; resolved to ids at replay) ----------------------------
def click(role: str, name: str, nth: int = 0) -> dict[str, Any]:
    return {"action": "click", "role": role, "name": name, **({"nth": nth} if nth else {})}


def type_(role: str, name: str, text: str, *, enter: bool = True) -> dict[str, Any]:
    return {"action": "type", "role": role, "name": name, "text": text, "enter": enter}


def press(key: str) -> dict[str, Any]:
    return {"action": "press", "key": key}


def stop(answer: str = "") -> dict[str, Any]:
    return {"action": "stop", "answer": answer}


def search(text: str) -> dict[str, Any]:
    return type_("searchbox", "Search", text)


def replace_text(role: str, name: str, text: str) -> list[dict[str, Any]]:
    """Typing never clears a field (WebArena's `type`), so select and delete what is there first."""
    return [click(role, name), press("Control+a"), press("Backspace"), type_(role, name, text, enter=False)]


def bare(price: int) -> str:
    return money(price).lstrip("$")


# --- shop ----------------------------------------------------------------------------------------------
SORT_LABELS = {"price_asc": "Price: low to high", "price_desc": "Price: high to low", "rating": "Rating"}
SORT_WORDS = {
    "price_asc": "price from low to high",
    "price_desc": "price from high to low",
    "rating": "customer rating",
}
FAKE_PRODUCTS = [
    "Titanium Snowboard",
    "Solar-Powered Toaster",
    "Velvet Hiking Boots",
    "Glass Bicycle Helmet",
    "Inflatable Office Desk",
    "Cordless Espresso Grinder Pro",
    "Marble Frisbee",
    "Wooden Smartphone",
    "Heated Swimming Goggles",
    "Chocolate Teapot",
]
REVIEW_TEXTS = [
    ("Great value", "Works well and arrived on time."),
    ("Not bad", "Decent quality for everyday use."),
    ("Would recommend", "My whole family likes it."),
    ("Too small", "Smaller than I expected from the photos."),
    ("Sturdy", "Feels solid and well made."),
    ("Just okay", "It does the job but nothing more."),
]
ADDRESS_FIELDS = {
    "city": ("City", ["Oakland", "Palo Alto", "Fremont", "Sunnyvale", "Berkeley", "Santa Clara"]),
    "street address": ("Street Address", ["450 Serra Mall", "88 Colin P Kelly Jr St", "600 Montgomery St"]),
    "zip code": ("Zip/Postal Code", ["94301", "94105", "95014", "94025"]),
    "phone number": ("Phone Number", ["4155550143", "6505550199", "4085550123"]),
}


@template(101, "shop", "What is the price of the {{product}}?")
def price(d: SeedData) -> Iterator[Instance]:
    for p in d.products:
        ref = [search(p["name"]), click("link", p["name"]), stop(money(p["price"]))]
        yield Instance({"product": p["name"]}, must_include(bare(p["price"])), ref)


@template(102, "shop", "How many reviews does the {{product}} have?")
def review_count(d: SeedData) -> Iterator[Instance]:
    for p in d.products:
        n = str(len(d.reviews_of(p["id"])))
        yield Instance(
            {"product": p["name"]}, exact(n), [search(p["name"]), click("link", p["name"]), stop(n)]
        )


@template(103, "shop", "Who wrote the most recent review of the {{product}}?")
def latest_reviewer(d: SeedData) -> Iterator[Instance]:
    for p in d.products:
        reviews = d.reviews_of(p["id"])
        if len(reviews) >= 2:
            author = reviews[0]["author"]
            ref = [search(p["name"]), click("link", p["name"]), stop(author)]
            yield Instance({"product": p["name"]}, must_include(author), ref)


@template(104, "shop", "Show me the products of the {{category}} category sorted by {{sort}}.")
def category_sorted(d: SeedData) -> Iterator[Instance]:
    for c in d.categories:
        for key, words in SORT_WORDS.items():
            ref = [click("link", c["name"]), click("link", SORT_LABELS[key]), stop()]
            url = f"{SHOP}/category/{c['slug']}?sort={key}"
            yield Instance({"category": c["name"], "sort": words}, url_is(url), ref)


def search_words(d: SeedData) -> list[str]:
    """Words found in the names of two to six products: searches that list a few results."""
    counts: dict[str, int] = {}
    for p in d.products:
        for word in {w.lower() for w in re.findall(r"[A-Za-z]{4,}", p["name"])}:
            counts[word] = counts.get(word, 0) + 1
    return sorted(w for w, n in counts.items() if 2 <= n <= 6)


@template(105, "shop", "Search the store for '{{query}}' and sort the results by {{sort}}.")
def search_sorted(d: SeedData) -> Iterator[Instance]:
    for word in search_words(d):
        for key, words in SORT_WORDS.items():
            ref = [search(word), click("link", SORT_LABELS[key]), stop()]
            yield Instance({"query": word, "sort": words}, url_is(f"{SHOP}/search?q={word}&sort={key}"), ref)


@template(106, "shop", "What is the {{extreme}} product in the {{category}} category?")
def extreme_product(d: SeedData) -> Iterator[Instance]:
    for c in d.categories:
        ordered = sorted(d.in_category(c["slug"]), key=lambda p: p["price"])
        for extreme, key, product in (
            ("cheapest", "price_asc", ordered[0]),
            ("most expensive", "price_desc", ordered[-1]),
        ):
            ref = [click("link", c["name"]), click("link", SORT_LABELS[key]), stop(product["name"])]
            yield Instance({"extreme": extreme, "category": c["name"]}, must_include(product["name"]), ref)


@template(107, "shop", "How many products in the {{category}} category cost less than ${{price}}?")
def count_cheaper(d: SeedData) -> Iterator[Instance]:
    for c in d.categories:
        prices = [p["price"] for p in d.in_category(c["slug"])]
        seen: set[int] = set()
        for dollars in (10, 20, 25, 30, 40, 50, 60, 75, 100, 125, 150, 200, 250, 300, 400):
            n = sum(p < dollars * 100 for p in prices)
            if not 1 <= n <= 9 or n in seen:
                continue
            seen.add(n)
            ref = [click("link", c["name"]), click("link", SORT_LABELS["price_asc"])]
            ref += [click("link", "Next page")] if n >= PAGE_SIZE else []
            yield Instance(
                {"category": c["name"], "price": str(dollars)}, exact(str(n)), [*ref, stop(str(n))]
            )


@template(108, "shop", "How much did I pay in total for the order I placed on {{date}}?")
def order_total(d: SeedData) -> Iterator[Instance]:
    orders = d.orders()
    dates = [nice_date(o["created_at"]) for o in orders]
    for o, date in zip(orders, dates, strict=True):
        if dates.count(date) == 1:
            ref = [click("link", "My Orders"), stop(money(o["total"]))]
            yield Instance({"date": date}, must_include(bare(o["total"])), ref)


@template(109, "shop", "Which products did I buy in order #{{number}}?")
def order_items(d: SeedData) -> Iterator[Instance]:
    for o in d.orders():
        names = [d.product(i["product_id"])["name"] for i in o["items"]]
        ref = [click("link", "My Orders"), click("link", o["number"]), stop(", ".join(names))]
        yield Instance({"number": o["number"]}, must_include(*names), ref)


@template(110, "shop", "Add the {{product}} to my wish list.", mutates=True)
def wishlist_add(d: SeedData) -> Iterator[Instance]:
    for p in d.products:
        if p["id"] not in d.wishlist:
            ref = [search(p["name"]), click("link", p["name"]), click("button", "Add to Wish List"), stop()]
            locator = "document.querySelector('#wishlist').outerText"
            yield Instance(
                {"product": p["name"]}, html(check(f"{SHOP}/wishlist", locator, must=[p["name"]])), ref
            )


@template(111, "shop", "Remove the {{product}} from my wish list.", mutates=True)
def wishlist_remove(d: SeedData) -> Iterator[Instance]:
    names = [d.product(pid)["name"] for pid in d.wishlist]
    locator = "[...document.querySelectorAll('#wishlist .item-name')].map(e => e.textContent).join(' | ')"
    for name in names:
        rest = " | ".join(n for n in names if n != name)
        ref = [click("link", "My Wish List"), click("button", f"Remove {name} from wish list"), stop()]
        yield Instance({"product": name}, html(check(f"{SHOP}/wishlist", locator, equals=rest)), ref)


@template(112, "shop", "Buy {{qty}} of the {{product}} with {{shipping}} shipping.", mutates=True)
def buy(d: SeedData) -> Iterator[Instance]:
    latest = {i["product_id"] for i in d.orders()[0]["items"]}
    latest_url = f"{SHOP}/account/orders/latest"
    for p in d.products:
        if not p["stock"] or p["id"] in latest:
            continue
        for qty in ("1", "2", "3"):
            for method, cost in SHIPPING.items():
                ref = [
                    search(p["name"]),
                    click("link", p["name"]),
                    type_("spinbutton", "Qty", qty, enter=False),
                    click("button", "Add to Cart"),
                    click("link", "Proceed to Checkout"),
                    click("radio", f"{method} Shipping ({money(cost)})"),
                    click("button", "Place Order"),
                    stop(),
                ]
                ev = html(
                    check(
                        latest_url,
                        "document.querySelector('#order-items').outerText",
                        must=[p["name"], f"Qty: {qty}"],
                    ),
                    check(
                        latest_url,
                        "document.querySelector('#order-shipping').outerText",
                        must=[f"{method} Shipping"],
                    ),
                )
                yield Instance({"qty": qty, "product": p["name"], "shipping": method}, ev, ref)


@template(
    113,
    "shop",
    "Write a {{rating}}-star review of the {{product}} with the summary '{{title}}' and the text '{{text}}'.",
    mutates=True,
)
def write_review(d: SeedData) -> Iterator[Instance]:
    first = "document.querySelector('#reviews .review')"
    for p in d.products:
        title, text = REVIEW_TEXTS[p["id"] % len(REVIEW_TEXTS)]
        for rating in ("1", "3", "5"):
            stars = f"{rating} star" + ("s" if rating != "1" else "")
            ref = [
                search(p["name"]),
                click("link", p["name"]),
                click("radio", stars),
                type_("textbox", "Summary", title, enter=False),
                type_("textbox", "Review", text, enter=False),
                click("button", "Submit Review"),
                stop(),
            ]
            url = f"{SHOP}/product/{p['slug']}"
            ev = html(
                check(url, f"{first}.outerText", must=[title, text, "Emma"]),
                check(url, f"{first}.dataset.rating", equals=rating),
            )
            values = {"rating": rating, "product": p["name"], "title": title, "text": text}
            yield Instance(values, ev, ref)


@template(114, "shop", "Change the {{field}} of my shipping address to {{value}}.", mutates=True)
def change_address(d: SeedData) -> Iterator[Instance]:
    for field_name, (label, values) in ADDRESS_FIELDS.items():
        for value in values:
            ref = [
                click("link", "My Account"),
                click("link", "Edit Address"),
                *replace_text("textbox", label, value),
                click("button", "Save Address"),
                stop(),
            ]
            locator = "document.querySelector('#default-address').outerText"
            ev = html(check(f"{SHOP}/account", locator, must=[value]))
            yield Instance({"field": field_name, "value": value}, ev, ref)


@template(115, "shop", "What is the price of the {{product}}?")
def price_missing(d: SeedData) -> Iterator[Instance]:
    names = {p["name"].lower() for p in d.products}
    for name in FAKE_PRODUCTS:
        assert name.lower() not in names
        ev = not_achievable("The store does not sell this product, so it has no price.")
        yield Instance({"product": name}, ev, [search(name), stop("N/A")])


# --- forum ---------------------------------------------------------------------------------------------
FORUM_SORTS = {"new": ("newest first", "New"), "top": ("highest score", "Top")}
COMMENT_TEXTS = [
    "Thanks, this was really helpful!",
    "I had the same problem last month.",
    "Great post, following for updates.",
    "Could you share a few more details?",
    "I completely agree with you.",
    "Interesting point, I never thought of that.",
]
NEW_POSTS = [
    ("Looking for beginner recommendations", "Where should a complete beginner start? Any tips are welcome."),
    ("Weekly discussion thread", "Share what you have been up to this week."),
    ("What changed your mind recently?", "Curious to hear what surprised you lately."),
    ("Best resources for learning more", "Books, videos or websites, please post your favourites."),
    ("Unpopular opinion thread", "Post your unpopular opinions here, politely."),
    ("Photos from my weekend", "Had a great weekend and wanted to share a few impressions."),
]
BIOS = [
    "Coffee lover and weekend hiker.",
    "I collect vintage comics and bake bread.",
    "Amateur photographer based in Pittsburgh.",
    "Learning to play the piano, slowly.",
    "Board game enthusiast and part-time cyclist.",
    "Reader of science fiction, writer of bad poetry.",
    "Gardening on weekends, coding on weekdays.",
    "Always planning the next road trip.",
]
FAKE_TITLES = [
    "Best pizza places in Antarctica",
    "My pet dragon refuses to eat vegetables",
    "Review of the 2031 Winter Olympics",
    "Teleportation tips for daily commuters",
    "Which moon base has the fastest internet?",
    "Packing list for time travel",
    "Growing bananas on Mars",
    "Knitting a sweater for a whale",
]


def open_post(post: dict[str, Any]) -> list[dict[str, Any]]:
    return [search(post["title"]), click("link", post["title"])]


@template(201, "forum", "Who posted the thread '{{title}}'?")
def post_author(d: SeedData) -> Iterator[Instance]:
    for p in d.posts:
        yield Instance({"title": p["title"]}, must_include(p["author"]), [*open_post(p), stop(p["author"])])


@template(202, "forum", "How many comments are there on the post '{{title}}'?")
def comment_count(d: SeedData) -> Iterator[Instance]:
    for p in d.posts:
        n = str(len(d.comments_of(p["id"])))
        yield Instance({"title": p["title"]}, exact(n), [*open_post(p), stop(n)])


@template(203, "forum", "Show me the posts of the {{forum}} forum sorted by {{sort}}.")
def forum_sorted(d: SeedData) -> Iterator[Instance]:
    for forum in d.forums:
        for key, (words, label) in FORUM_SORTS.items():
            ref = [click("link", forum), click("link", label), stop()]
            yield Instance({"forum": forum, "sort": words}, url_is(f"{FORUM}/f/{forum}?sort={key}"), ref)


@template(204, "forum", "What is the title of the {{which}} post in the {{forum}} forum?")
def forum_extreme(d: SeedData) -> Iterator[Instance]:
    for forum in d.forums:
        posts = [p for p in d.posts if p["forum"] == forum]
        top = min(posts, key=lambda p: (-p["score"], p["id"]))
        newest = max(posts, key=lambda p: (p["created_at"], p["id"]))
        for which, label, post in (("highest-scoring", "Top", top), ("most recent", "New", newest)):
            ref = [click("link", forum), click("link", label), stop(post["title"])]
            yield Instance({"which": which, "forum": forum}, must_include(post["title"]), ref)


@template(205, "forum", "{{direction}} the post '{{title}}'.", mutates=True)
def vote(d: SeedData) -> Iterator[Instance]:
    locator = "document.querySelector('#my-vote').dataset.vote"
    for p in d.posts:
        for direction, want, value in (("Upvote", 1, "up"), ("Downvote", -1, "down")):
            if d.my_vote(p["id"]) != want:
                ev = html(check(f"{FORUM}{post_url(p)}", locator, equals=value))
                yield Instance(
                    {"direction": direction, "title": p["title"]},
                    ev,
                    [*open_post(p), click("button", direction), stop()],
                )


@template(206, "forum", "Reply to the post '{{title}}' with the comment '{{text}}'.", mutates=True)
def reply(d: SeedData) -> Iterator[Instance]:
    locator = "[...document.querySelectorAll('#comments .comment')].pop().outerText"
    for p in d.posts:
        text = COMMENT_TEXTS[p["id"] % len(COMMENT_TEXTS)]
        ref = [
            *open_post(p),
            type_("textbox", "Comment", text, enter=False),
            click("button", "Post comment"),
            stop(),
        ]
        ev = html(check(f"{FORUM}{post_url(p)}", locator, must=[ME_FORUM, text]))
        yield Instance({"title": p["title"], "text": text}, ev, ref)


@template(
    207,
    "forum",
    "Create a post in the {{forum}} forum titled '{{title}}' with the text '{{body}}'.",
    mutates=True,
)
def new_post(d: SeedData) -> Iterator[Instance]:
    locator = "document.querySelector('#posts article').outerText"
    for forum in d.forums:
        for title, body in NEW_POSTS:
            ref = [
                click("link", forum),
                click("link", "Submit a new post"),
                type_("textbox", "Title", title, enter=False),
                type_("textbox", "Body", body, enter=False),
                click("button", "Create submission"),
                stop(),
            ]
            ev = html(check(f"{FORUM}/f/{forum}?sort=new", locator, must=[title, body, ME_FORUM]))
            yield Instance({"forum": forum, "title": title, "body": body}, ev, ref)


@template(208, "forum", "Open the profile page of the user who posted '{{title}}'.")
def author_page(d: SeedData) -> Iterator[Instance]:
    for p in d.posts:
        ref = [*open_post(p), click("link", p["author"]), stop()]
        yield Instance({"title": p["title"]}, url_is(f"{FORUM}/user/{p['author']}"), ref)


@template(209, "forum", "{{action}} the {{forum}} forum.", mutates=True)
def subscription(d: SeedData) -> Iterator[Instance]:
    locator = "[...document.querySelectorAll('#subscriptions a')].map(a => a.textContent).join(', ')"
    subs = set(d.subscriptions)
    for forum in d.forums:
        action, button = (
            ("Unsubscribe from", "Unsubscribe") if forum in subs else ("Subscribe to", "Subscribe")
        )
        after = ", ".join(sorted(subs ^ {forum}))
        ref = [click("link", forum), click("button", button), stop()]
        yield Instance(
            {"action": action, "forum": forum},
            html(check(f"{FORUM}/subscriptions", locator, equals=after)),
            ref,
        )


@template(210, "forum", "Change my biography to '{{bio}}'.", mutates=True)
def biography(d: SeedData) -> Iterator[Instance]:
    for bio in BIOS:
        ref = [
            click("link", ME_FORUM),
            click("link", "Edit biography"),
            *replace_text("textbox", "Biography", bio),
            click("button", "Save biography"),
            stop(),
        ]
        ev = html(check(f"{FORUM}/user/{ME_FORUM}", "document.querySelector('#bio').outerText", equals=bio))
        yield Instance({"bio": bio}, ev, ref)


@template(211, "forum", "Who posted the thread '{{title}}'?")
def author_missing(d: SeedData) -> Iterator[Instance]:
    titles = {p["title"].lower() for p in d.posts}
    for title in FAKE_TITLES:
        assert title.lower() not in titles
        ev = not_achievable("No thread with this title exists on the forum.")
        yield Instance({"title": title}, ev, [search(title), stop("N/A")])
