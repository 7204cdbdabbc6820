"""The forum: a small link-and-discussion site in the spirit of WebArena's Reddit clone (Postmill).

Forums with hot/new/top listings, posts with comments and votes, subscriptions, user pages with an editable
biography, search. Reading is open; voting, commenting, posting, subscribing and editing need a login.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agentevo.envs.sites.base import CLOCK_FORMAT, Clock, Site, logged_in, paginate
from agentevo.envs.sites.http import Request, Response, get, post, redirect

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
        sort = req.arg("sort") if req.arg("sort") in SORTS else "hot"
        shown, page, pages = paginate(self.sorted_posts(posts, sort), req.arg("p", "1"), PAGE_SIZE)
        cards = [self.card(p, self.user(req)) for p in shown]
        return self.render(
            template, req, posts=cards, sort=sort, sorts=SORTS, page=page, pages=pages, **context
        )

    def post_of(self, req: Request) -> dict[str, Any] | None:
        post = self.state.posts.get(int(req.params["pid"]))
        return post if post is not None and post["forum"] == req.params["forum"] else None

    # --- listings -----------------------------------------------------------------------------------
    @get("/")
    def front(self, req: Request) -> Response:
        return self.listing(req, list(self.state.posts.values()), "front.html", base="/")

    @get("/forums")
    def forums(self, req: Request) -> Response:
        subs = self.state.subscriptions.get(self.user(req) or "", [])
        counts = {
            name: sum(p["forum"] == name for p in self.state.posts.values()) for name in self.state.forums
        }
        rows = [
            {**f, "posts": counts[n], "subscribed": n in subs} for n, f in sorted(self.state.forums.items())
        ]
        return self.render("forums.html", req, forums=rows)

    @get("/f/<forum>")
    def forum(self, req: Request) -> Response:
        f = self.state.forums.get(req.params["forum"])
        if f is None:
            return self.missing(req)
        posts = [p for p in self.state.posts.values() if p["forum"] == f["name"]]
        subscribed = f["name"] in self.state.subscriptions.get(self.user(req) or "", [])
        return self.listing(req, posts, "forum.html", forum=f, base=f"/f/{f['name']}", subscribed=subscribed)

    @get("/search")
    def search(self, req: Request) -> Response:
        query = req.arg("q").strip()
        words = query.lower().split()
        posts = self.state.posts.values()
        found = [p for p in posts if words and all(w in f"{p['title']} {p['body']}".lower() for w in words)]
        return self.listing(req, found, "search.html", query=query, base="/search")

    @get("/subscriptions")
    @logged_in
    def subscriptions(self, req: Request, user: str) -> Response:
        names = sorted(self.state.subscriptions.get(user, []))
        return self.render("subscriptions.html", req, forums=[self.state.forums[n] for n in names])

    @post("/f/<forum>/subscribe")
    @logged_in
    def subscribe(self, req: Request, user: str) -> Response:
        name = req.params["forum"]
        if name not in self.state.forums:
            return self.missing(req)
        subs = self.state.subscriptions.setdefault(user, [])
        if name in subs:
            subs.remove(name)
        else:
            subs.append(name)
        return redirect(f"/f/{name}")

    # --- submitting (before the post routes: `submit` is not a post id) -----------------------------
    @get("/f/<forum>/submit")
    @logged_in
    def submit_form(self, req: Request, user: str) -> Response:
        f = self.state.forums.get(req.params["forum"])
        if f is None:
            return self.missing(req)
        return self.render("submit.html", req, forum=f, error="", title="", body="")

    @post("/f/<forum>/submit")
    @logged_in
    def submit(self, req: Request, user: str) -> Response:
        f = self.state.forums.get(req.params["forum"])
        if f is None:
            return self.missing(req)
        title, body = req.field("title"), req.field("body")
        if not title:
            error = "Please give your post a title."
            return self.render("submit.html", req, status=400, forum=f, error=error, title=title, body=body)
        post = {"id": self.state.next_post, "forum": f["name"], "title": title, "body": body, "author": user}
        self.state.posts[post["id"]] = {**post, "created_at": self.state.clock.now(), "score": 1}
        self.state.votes.setdefault(user, {})[str(post["id"])] = 1
        self.state.next_post += 1
        return redirect(post_url(post))

    # --- posts --------------------------------------------------------------------------------------
    @get("/f/<forum>/<pid:int>")
    @get("/f/<forum>/<pid:int>/<slug>")
    def post_page(self, req: Request) -> Response:
        p = self.post_of(req)
        if p is None:
            return self.missing(req)
        card, comments = self.card(p, self.user(req)), self.comments_of(p["id"])
        forum = self.state.forums[p["forum"]]
        return self.render(
            "post.html", req, post=card, comments=comments, forum=forum, error=req.arg("error")
        )

    @post("/f/<forum>/<pid:int>/vote")
    @logged_in
    def vote(self, req: Request, user: str) -> Response:
        p = self.post_of(req)
        if p is None:
            return self.missing(req)
        wanted = {"up": 1, "down": -1}.get(req.field("direction"), 0)
        votes = self.state.votes.setdefault(user, {})
        old = votes.get(str(p["id"]), 0)
        new = 0 if wanted == old else wanted  # voting the same way again retracts the vote
        votes[str(p["id"])] = new
        p["score"] += new - old
        return redirect(post_url(p))

    @post("/f/<forum>/<pid:int>/comment")
    @logged_in
    def comment(self, req: Request, user: str) -> Response:
        p = self.post_of(req)
        if p is None:
            return self.missing(req)
        body = req.field("body")
        if not body:
            return redirect(post_url(p) + "?error=empty#comment-form")
        comment = {"id": self.state.next_comment, "post_id": p["id"], "author": user, "body": body}
        self.state.comments.append({**comment, "created_at": self.state.clock.now(), "score": 1})
        self.state.next_comment += 1
        return redirect(post_url(p) + "#comments")

    # --- users --------------------------------------------------------------------------------------
    @get("/user/<name>")
    def user_page(self, req: Request) -> Response:
        u = self.state.users.get(req.params["name"])
        if u is None:
            return self.missing(req)
        me = self.user(req)
        posts = [self.card(p, me) for p in self.sorted_posts(list(self.state.posts.values()), "new")]
        mine = [c for c in self.state.comments if c["author"] == u["name"]]
        mine.sort(key=lambda c: (c["created_at"], c["id"]), reverse=True)
        comments = [{**c, "post": self.card(self.state.posts[c["post_id"]], me)} for c in mine]
        posts = [p for p in posts if p["author"] == u["name"]]
        return self.render(
            "user.html", req, profile=u, posts=posts, comments=comments, message=req.arg("message")
        )

    @get("/user/<name>/edit_biography")
    @logged_in
    def bio_form(self, req: Request, user: str) -> Response:
        if user != req.params["name"]:
            return redirect(f"/user/{user}/edit_biography")
        return self.render("biography.html", req, profile=self.state.users[user])

    @post("/user/<name>/edit_biography")
    @logged_in
    def bio_save(self, req: Request, user: str) -> Response:
        if user != req.params["name"]:
            return self.missing(req)
        self.state.users[user]["bio"] = req.field("bio")
        return redirect(f"/user/{user}?message=bio-saved")
