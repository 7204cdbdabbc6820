"""The forum: a small link-and-discussion site in the spirit of WebArena's Reddit clone (Postmill).

Forums with hot/new/top listings, posts with comments and votes, subscriptions, user pages with an editable
biography, search. Reading is open; voting, commenting, posting, subscribing and editing need a login.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agentevo.envs.sites.base import CLOCK_FORMAT, Clock, Site
from agentevo.envs.sites.http import Request, Response, redirect

SORTS = {"hot": "Hot", "new": "New", "top": "Top"}
PAGE_SIZE = 10


@dataclass
class ForumState:
    forums: dict[str, dict[str, Any]]
    users: dict[str, dict[str, Any]]
    posts: dict[int, dict[str, Any]]
    comments: list[dict[str, Any]]
    votes: dict[str, dict[str, int]]
    subscriptions: dict[str, list[str]]
    clock: Clock
    now: datetime
    next_post: int = 0
    next_comment: int = 0


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def post_url(post: dict[str, Any]) -> str:
    return f"/f/{post['forum']}/{post['id']}/{slugify(post['title'])}"


class Forum(Site):
    name = "forum"
    title = "Postmill"
    cookie = "forum_session"

    def build_state(self, seed: dict[str, Any]) -> ForumState:
        return ForumState(
            forums={f["name"]: dict(f) for f in seed["forums"]},
            users={u["name"]: dict(u) for u in seed["users"]},
            posts={p["id"]: dict(p) for p in seed["posts"]},
            comments=[dict(c) for c in seed["comments"]],
            votes={k: dict(v) for k, v in seed["votes"].items()},
            subscriptions={k: list(v) for k, v in seed["subscriptions"].items()},
            clock=Clock(seed["now"]),
            now=datetime.strptime(seed["now"], CLOCK_FORMAT),
            next_post=max(p["id"] for p in seed["posts"]) + 1,
            next_comment=max(c["id"] for c in seed["comments"]) + 1,
        )

    def login_key(self, username: str, password: str) -> str | None:
        user = self.state.users.get(username.strip())
        return user["name"] if user and user["password"] == password else None

    def page_context(self) -> dict[str, Any]:
        return {"login_label": "Username", "all_forums": sorted(self.state.forums)}

    # --- queries ------------------------------------------------------------------------------------
    def comments_of(self, pid: int) -> list[dict[str, Any]]:
        mine = [c for c in self.state.comments if c["post_id"] == pid]
        return sorted(mine, key=lambda c: (c["created_at"], c["id"]))

    def card(self, post: dict[str, Any], user: str | None) -> dict[str, Any]:
        vote = self.state.votes.get(user or "", {}).get(str(post["id"]), 0)
        count = sum(c["post_id"] == post["id"] for c in self.state.comments)
        return {**post, "url": post_url(post), "comment_count": count, "my_vote": vote}

    def hotness(self, post: dict[str, Any]) -> float:
        age = (self.state.now - datetime.strptime(post["created_at"], CLOCK_FORMAT)).total_seconds() / 3600
        return (post["score"] + 1) / (max(age, 0) + 2) ** 1.5

    def sorted_posts(self, posts: list[dict[str, Any]], sort: str) -> list[dict[str, Any]]:
        if sort == "new":
            return sorted(posts, key=lambda p: (p["created_at"], p["id"]), reverse=True)
        if sort == "top":
            return sorted(posts, key=lambda p: (-p["score"], p["id"]))
        return sorted(posts, key=lambda p: (-self.hotness(p), p["id"]))

    def listing(self, req: Request, posts: list[dict[str, Any]], template: str, **context: Any) -> Response:
        sort = req.arg("sort", "hot")
        if sort not in SORTS:
            sort = "hot"
        ordered = self.sorted_posts(posts, sort)
        pages = max(1, math.ceil(len(ordered) / PAGE_SIZE))
        try:
            page = min(max(1, int(req.arg("p", "1"))), pages)
        except ValueError:
            page = 1
        user = self.user(req)
        cards = [self.card(p, user) for p in ordered[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]]
        return self.render(
            template, req, posts=cards, sort=sort, sorts=SORTS, page=page, pages=pages, **context
        )

    def post_or_none(self, req: Request) -> dict[str, Any] | None:
        try:
            post = self.state.posts.get(int(req.params["pid"]))
        except ValueError:
            return None
        return post if post is not None and post["forum"] == req.params["forum"] else None

    # --- pages --------------------------------------------------------------------------------------
    def routes(self) -> None:
        self.listing_routes()
        self.post_routes()
        self.user_routes()

    def listing_routes(self) -> None:
        app, st = self.app, lambda: self.state

        @app.get("/")
        def front(req: Request) -> Response:
            return self.listing(req, list(st().posts.values()), "front.html", base="/")

        @app.get("/forums")
        def forums(req: Request) -> Response:
            subs = st().subscriptions.get(self.user(req) or "", [])
            rows = [
                {
                    **f,
                    "posts": sum(p["forum"] == name for p in st().posts.values()),
                    "subscribed": name in subs,
                }
                for name, f in sorted(st().forums.items())
            ]
            return self.render("forums.html", req, forums=rows)

        @app.get("/f/<forum>")
        def forum(req: Request) -> Response:
            f = st().forums.get(req.params["forum"])
            if f is None:
                return self.app.not_found(req)
            posts = [p for p in st().posts.values() if p["forum"] == f["name"]]
            subscribed = f["name"] in st().subscriptions.get(self.user(req) or "", [])
            return self.listing(
                req, posts, "forum.html", forum=f, base=f"/f/{f['name']}", subscribed=subscribed
            )

        @app.get("/search")
        def search(req: Request) -> Response:
            query = req.arg("q").strip()
            words = query.lower().split()
            found = [
                p
                for p in st().posts.values()
                if words and all(w in f"{p['title']} {p['body']}".lower() for w in words)
            ]
            return self.listing(req, found, "search.html", query=query, base="/search")

        @app.get("/subscriptions")
        def subscriptions(req: Request) -> Response:
            user = self.user(req)
            if user is None:
                return self.login_required(req)
            names = sorted(st().subscriptions.get(user, []))
            return self.render("subscriptions.html", req, forums=[st().forums[n] for n in names])

        @app.post("/f/<forum>/subscribe")
        def subscribe(req: Request) -> Response:
            user, name = self.user(req), req.params["forum"]
            if name not in st().forums:
                return self.app.not_found(req)
            if user is None:
                return self.login_required(req)
            subs = st().subscriptions.setdefault(user, [])
            if name in subs:
                subs.remove(name)
            else:
                subs.append(name)
            return redirect(f"/f/{name}")

    def post_routes(self) -> None:
        app, st = self.app, lambda: self.state

        @app.get("/f/<forum>/<pid:int>")
        @app.get("/f/<forum>/<pid:int>/<slug>")
        def post(req: Request) -> Response:
            p = self.post_or_none(req)
            if p is None:
                return self.app.not_found(req)
            card = self.card(p, self.user(req))
            comments = self.comments_of(p["id"])
            forum = st().forums[p["forum"]]
            return self.render(
                "post.html", req, post=card, comments=comments, forum=forum, error=req.arg("error")
            )

        @app.post("/f/<forum>/<pid:int>/vote")
        def vote(req: Request) -> Response:
            p, user = self.post_or_none(req), self.user(req)
            if p is None:
                return self.app.not_found(req)
            if user is None:
                return self.login_required(req)
            wanted = {"up": 1, "down": -1}.get(req.field("direction"), 0)
            votes = st().votes.setdefault(user, {})
            old = votes.get(str(p["id"]), 0)
            new = 0 if wanted == old else wanted  # voting the same way again retracts the vote
            votes[str(p["id"])] = new
            p["score"] += new - old
            return redirect(post_url(p))

        @app.post("/f/<forum>/<pid:int>/comment")
        def comment(req: Request) -> Response:
            p, user = self.post_or_none(req), self.user(req)
            if p is None:
                return self.app.not_found(req)
            if user is None:
                return self.login_required(req)
            body = req.field("body")
            if not body:
                return redirect(post_url(p) + "?error=empty#comment-form")
            st().comments.append(
                {
                    "id": st().next_comment,
                    "post_id": p["id"],
                    "author": user,
                    "body": body,
                    "created_at": st().clock.now(),
                    "score": 1,
                }
            )
            st().next_comment += 1
            return redirect(post_url(p) + "#comments")

        @app.get("/f/<forum>/submit")
        def submit_form(req: Request) -> Response:
            f = st().forums.get(req.params["forum"])
            if f is None:
                return self.app.not_found(req)
            if self.user(req) is None:
                return self.login_required(req)
            return self.render("submit.html", req, forum=f, error="", title="", body="")

        @app.post("/f/<forum>/submit")
        def submit(req: Request) -> Response:
            f, user = st().forums.get(req.params["forum"]), self.user(req)
            if f is None:
                return self.app.not_found(req)
            if user is None:
                return self.login_required(req)
            title, body = req.field("title"), req.field("body")
            if not title:
                error = "Please give your post a title."
                return self.render(
                    "submit.html", req, status=400, forum=f, error=error, title=title, body=body
                )
            post = {
                "id": st().next_post,
                "forum": f["name"],
                "title": title,
                "body": body,
                "author": user,
                "created_at": st().clock.now(),
                "score": 1,
            }
            st().posts[post["id"]] = post
            st().votes.setdefault(user, {})[str(post["id"])] = 1
            st().next_post += 1
            return redirect(post_url(post))

    def user_routes(self) -> None:
        app, st = self.app, lambda: self.state

        @app.get("/user/<name>")
        def user_page(req: Request) -> Response:
            u = st().users.get(req.params["name"])
            if u is None:
                return self.app.not_found(req)
            me = self.user(req)
            posts = [self.card(p, me) for p in self.sorted_posts(list(st().posts.values()), "new")]
            comments = sorted(
                (c for c in st().comments if c["author"] == u["name"]),
                key=lambda c: (c["created_at"], c["id"]),
                reverse=True,
            )
            return self.render(
                "user.html",
                req,
                profile=u,
                posts=[p for p in posts if p["author"] == u["name"]],
                comments=[{**c, "post": self.card(st().posts[c["post_id"]], me)} for c in comments],
                message=req.arg("message"),
            )

        @app.get("/user/<name>/edit_biography")
        def bio_form(req: Request) -> Response:
            me = self.user(req)
            if me is None:
                return self.login_required(req)
            if me != req.params["name"]:
                return redirect(f"/user/{me}/edit_biography")
            return self.render("biography.html", req, profile=st().users[me])

        @app.post("/user/<name>/edit_biography")
        def bio_save(req: Request) -> Response:
            me = self.user(req)
            if me is None:
                return self.login_required(req)
            if me != req.params["name"]:
                return self.app.not_found(req)
            st().users[me]["bio"] = req.field("bio")
            return redirect(f"/user/{me}?message=bio-saved")
