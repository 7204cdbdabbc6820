"""The `func:` helpers of WebArena configs, run without `eval`.

A `func:` string is parsed as one call of a known helper with literal arguments (after `__last_url__` and
`__page__` are put in). `reddit_get_post_url` is pure; `gitlab_get_project_memeber_role` reads the live page;
the `shopping_*` helpers ask the real Magento REST API of the configured shopping site with the admin
account WebArena's sites ship with (a token from `/rest/default/V1/integration/admin/token`), and say clearly
when that site cannot be reached.
"""

from __future__ import annotations

import ast
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

ADMIN = {"username": "admin", "password": "admin1234"}  # WebArena's shopping_site_admin account
PAGE = object()
TIMEOUT_S = 30


class HelperError(RuntimeError):
    """A helper could not run (unknown name, bad call, unreachable site)."""


def call(expr: str, *, page: Any, last_url: str, site_urls: Mapping[str, str]) -> Any:
    """Evaluate `name(args…)` from a `func:` string."""
    name, args = parse_call(expr.replace("__last_url__", last_url))
    helper = HELPERS.get(name)
    if helper is None:
        raise HelperError(f"unknown func helper {name!r} (known: {', '.join(sorted(HELPERS))})")
    args = [page if a is PAGE else a for a in args]
    return helper(*args, sites=site_urls)


def parse_call(expr: str) -> tuple[str, list[Any]]:
    try:
        node = ast.parse(expr.strip(), mode="eval").body
    except SyntaxError:
        raise HelperError(f"cannot read func {expr!r}") from None
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name) or node.keywords:
        raise HelperError(f"func {expr!r} must be one call like name('arg')")
    args: list[Any] = []
    for arg in node.args:
        if isinstance(arg, ast.Name) and arg.id in ("__page__", "page"):
            args.append(PAGE)
        elif isinstance(arg, ast.Constant):
            args.append(arg.value)
        else:
            raise HelperError(f"func {expr!r}: arguments must be literals or __page__")
    return node.func.id, args


def reddit_get_post_url(url: str, *, sites: Mapping[str, str]) -> str:
    """`/f/<forum>/<id>/anything` → `/f/<forum>/<id>/`; other URLs unchanged."""
    parts = urllib.parse.urlparse(url)
    path = parts.path.split("/")
    if len(path) < 4 or path[1] != "f":
        return url
    return f"{parts.scheme}://{parts.netloc}/f/{path[2]}/{path[3]}/"


MEMBER_ROLE = """(account) => {
  const names = document.querySelectorAll("td[data-label='Account'] span.gl-avatar-labeled-sublabel");
  let index = -1;
  for (let i = 0; i < names.length; i++) { if (names[i].outerText === '@' + account) { index = i; break; } }
  const roles = document.querySelectorAll("td.col-max-role span");
  return index >= 0 && roles[index] ? roles[index].outerText : "";
}"""


def gitlab_get_project_memeber_role(page: Any, account: str, *, sites: Mapping[str, str]) -> str:
    """The role shown for @account in a GitLab project's members table ("" when absent)."""
    try:
        return str(page.evaluate(MEMBER_ROLE, account))
    except Exception:
        return ""


def shopping_url(sites: Mapping[str, str]) -> str:
    url = sites.get("__SHOPPING__")
    if not url:
        raise HelperError("this check asks the shopping site's REST API, but WA_SHOPPING is not set")
    return url.rstrip("/")


def request(method: str, url: str, *, token: str | None = None, body: Any = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, data=data, headers=headers, method=method), timeout=TIMEOUT_S
        ) as resp:
            return json.loads(resp.read().decode() or "null")
    except urllib.error.HTTPError as exc:
        raise HelperError(f"{method} {url} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise HelperError(f"cannot reach the shopping site at {url} ({reason})") from None
    except json.JSONDecodeError:
        raise HelperError(f"{method} {url} did not answer JSON") from None


def shopping_token(sites: Mapping[str, str]) -> str:
    return str(request("POST", f"{shopping_url(sites)}/rest/default/V1/integration/admin/token", body=ADMIN))


def shopping_get_latest_order_url(*, sites: Mapping[str, str]) -> str:
    base = shopping_url(sites)
    query = urllib.parse.urlencode(
        {
            "searchCriteria[sortOrders][0][field]": "created_at",
            "searchCriteria[sortOrders][0][direction]": "DESC",
            "searchCriteria[pageSize]": "1",
        }
    )
    orders = request("GET", f"{base}/rest/V1/orders?{query}", token=shopping_token(sites))
    items = (orders or {}).get("items") or []
    if not items:
        raise HelperError("the shopping site has no orders")
    return f"{base}/sales/order/view/order_id/{int(items[0]['increment_id'])}/"


def sku_reviews(sku: str, sites: Mapping[str, str]) -> list[dict[str, Any]]:
    path = urllib.parse.quote(str(sku), safe="")
    return (
        request("GET", f"{shopping_url(sites)}/rest/V1/products/{path}/reviews", token=shopping_token(sites))
        or []
    )


def shopping_get_sku_latest_review_author(sku: str, *, sites: Mapping[str, str]) -> str:
    reviews = sku_reviews(sku, sites)
    return str(reviews[-1]["nickname"]) if reviews else ""


def shopping_get_sku_latest_review_rating(sku: str, *, sites: Mapping[str, str]) -> str:
    reviews = sku_reviews(sku, sites)
    return str(reviews[-1]["ratings"][0]["percent"]) if reviews else ""


HELPERS: dict[str, Callable[..., Any]] = {
    "reddit_get_post_url": reddit_get_post_url,
    "gitlab_get_project_memeber_role": gitlab_get_project_memeber_role,
    "shopping_get_latest_order_url": shopping_get_latest_order_url,
    "shopping_get_sku_latest_review_author": shopping_get_sku_latest_review_author,
    "shopping_get_sku_latest_review_rating": shopping_get_sku_latest_review_rating,
}
