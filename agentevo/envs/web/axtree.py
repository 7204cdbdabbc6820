"""The accessibility tree in WebArena's text form, from Chrome's `Accessibility.getFullAXTree`.

Each kept node becomes one line `[<id>] <role> '<name>' prop: value …`, tab-indented by depth; `<id>`, which
the action grammar addresses, numbers the kept nodes in document order. (WebArena shows Chrome's AX node ids,
but those count every node the browser has made before, so the same page would read differently in each
episode, and a model's reply with it — no rerun or paired comparison would be exact.) The rules follow
WebArena's processor:

- nameless nodes without (shown) properties whose role is generic, img, list, strong, paragraph, banner,
  navigation, Section, LabelText, Legend or listitem are pruned, and their children move up a level;
- the properties focusable, editable, readonly, level, settable, multiline and invalid are not shown;
- a StaticText line whose text already appears in one of the previous three kept lines is dropped.

Chrome has changed since WebArena was recorded; two adaptations keep the text as WebArena's agents saw it:
ignored nodes and `InlineTextBox` nodes (now reported, duplicates of their StaticText) are skipped with their
children moved up, and the root's new `url` property is not shown. With `viewport_only`, nodes whose layout
box lies outside the viewport (or has no area) are skipped too. The text is cut to a token budget
(`estimate_tokens`: about four characters a token, WebArena's 1920 by default).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

IGNORED_PROPERTIES = frozenset(
    {"focusable", "editable", "readonly", "level", "settable", "multiline", "invalid", "url"}
)
PRUNED_ROLES = frozenset(
    {
        "generic",
        "img",
        "list",
        "strong",
        "paragraph",
        "banner",
        "navigation",
        "Section",
        "LabelText",
        "Legend",
        "listitem",
    }
)
SKIPPED_ROLES = frozenset({"InlineTextBox"})
STATIC_TEXT = re.compile(r"\[\d+\] StaticText (.+)")
TRUNCATED = "\n[... the page continues; scroll to see more]"


@dataclass(frozen=True)
class AXNode:
    """What an action needs to know about one shown node."""

    id: str
    role: str
    name: str
    backend_id: int | None


@dataclass(frozen=True)
class AXTree:
    text: str
    nodes: Mapping[str, AXNode]
    truncated: bool = False


def value_of(field: Any) -> Any:
    return field.get("value") if isinstance(field, dict) else None


def shown_properties(node: dict[str, Any]) -> list[str]:
    props = []
    for prop in node.get("properties") or []:
        if prop.get("name") in IGNORED_PROPERTIES:
            continue
        if not isinstance(prop.get("value"), dict) or "value" not in prop["value"]:
            continue  # relations (labelledby, …) carry nodes, not a value: WebArena skips them
        props.append(f"{prop['name']}: {value_of(prop.get('value'))}")
    return props


def node_line(node_id: str, role: str, name: str, props: list[str]) -> str:
    line = f"[{node_id}] {role} {name!r}"
    return f"{line} {' '.join(props)}" if props else line


def keep(node: dict[str, Any], role: str, name: str, props: list[str], visible: set[int] | None) -> bool:
    if node.get("ignored") or role in SKIPPED_ROLES:
        return False
    if visible is not None and node.get("backendDOMNodeId") not in visible and role != "RootWebArea":
        return False
    if not name.strip() and not props and role in PRUNED_ROLES:
        return False
    return True


def render(
    nodes: list[dict[str, Any]], visible: set[int] | None = None
) -> tuple[list[str], dict[str, AXNode]]:
    """DFS from the root; `visible` (backend DOM ids in the viewport) filters when given."""
    by_id = {}
    for node in nodes:
        by_id.setdefault(node["nodeId"], node)  # Chrome may repeat a node id: the first wins
    roots = [n for n in by_id.values() if not n.get("parentId") or n["parentId"] not in by_id]
    lines: list[str] = []
    table: dict[str, AXNode] = {}
    stack: list[tuple[dict[str, Any], int]] = [(r, 0) for r in reversed(roots)]
    seen: set[str] = set()
    while stack:
        node, depth = stack.pop()
        if node["nodeId"] in seen:
            continue
        seen.add(node["nodeId"])
        role = str(value_of(node.get("role")) or "")
        name = str(value_of(node.get("name")) or "")
        props = shown_properties(node)
        child_depth = depth
        if keep(node, role, name, props, visible):
            shown = str(len(table) + 1)
            lines.append("\t" * depth + node_line(shown, role, name, props))
            table[shown] = AXNode(shown, role, name, node.get("backendDOMNodeId"))
            child_depth = depth + 1
        children = [by_id[c] for c in node.get("childIds") or [] if c in by_id]
        stack.extend((c, child_depth) for c in reversed(children))
    return lines, table


def drop_repeated_text(lines: Iterable[str]) -> list[str]:
    """WebArena's cleanup: a StaticText already shown in one of the three previous kept lines goes."""
    kept: list[str] = []
    for line in lines:
        match = STATIC_TEXT.search(line)
        if match:
            text = match.group(1)[1:-1]
            if not text or any(text in previous for previous in kept[-3:]):
                continue
        kept.append(line)
    return kept


def estimate_tokens(text: str) -> int:
    return (len(text) + 3) // 4


def truncate(text: str, max_tokens: int) -> tuple[str, bool]:
    if max_tokens <= 0 or estimate_tokens(text) <= max_tokens:
        return text, False
    cut = text[: max_tokens * 4]
    cut = cut[: cut.rfind("\n")] if "\n" in cut else cut
    return cut + TRUNCATED, True


def visible_backend_ids(snapshot: dict[str, Any], width: float, height: float) -> set[int]:
    """Backend DOM ids whose layout box has area and meets the viewport (from DOMSnapshot.captureSnapshot)."""
    visible: set[int] = set()
    for doc in snapshot.get("documents", [])[:1]:  # the main frame; scroll offsets are the document's
        backend = doc["nodes"]["backendNodeId"]
        sx, sy = doc.get("scrollOffsetX", 0), doc.get("scrollOffsetY", 0)
        layout = doc["layout"]
        for index, (x, y, w, h) in zip(layout["nodeIndex"], layout["bounds"], strict=False):
            x, y = x - sx, y - sy
            if w > 0 and h > 0 and x < width and y < height and x + w > 0 and y + h > 0:
                visible.add(backend[index])
    return visible


def build(ax_nodes: list[dict[str, Any]], *, max_tokens: int, visible: set[int] | None = None) -> AXTree:
    lines, table = render(ax_nodes, visible)
    text, cut = truncate("\n".join(drop_repeated_text(lines)), max_tokens)
    return AXTree(text=text, nodes=table, truncated=cut)
