"""Trust of experience: where it came from caps how far it is believed; text that gives orders is quarantined.

Provenance-capped trust (text can never raise its own trust):
- `trusted`      derived from what the harness controls: the task, our own actions, our sandbox's output
- `untrusted`    derived from web page text (web-kind trajectories), which anyone may have written;
                 retrieved and shown as marked reference notes; a web workflow only as demonstration
                 turns on instances of its own template, its page text quoted (agentevo.memory.recall)
- `quarantined`  its text gives the agent orders (a prompt-injection pattern below); stored for forensics,
                 never retrieved, until a person runs `agentevo memory approve ID`

The patterns (case-insensitive; over title, description, content and demonstration text), by family:
    override        ignore / disregard / forget (all) (previous|prior|above…) instructions|rules|task
    new orders      "you must now", "from now on you|always|never", "new instructions:", "your real task"
    role hijack     "you are now a|an|DAN…", "act as (an) admin|root|system", "pretend to be", jailbreak,
                    "developer mode"
    prompt channel  "system prompt|message", "developer message", <|im_start|>, [INST], <system>
    secrecy         "do not tell|show|reveal … the user", "without telling the user"
    secret theft    reveal|print|leak|send … api key|password|secret|token|credentials|ssh key;
                    ~/.ssh, id_rsa, /etc/shadow, /etc/passwd, AWS_SECRET, private key
    remote code     curl|wget … | sh|bash|python, bash -c "$(curl …", base64 -d | sh, nc -e
    exfiltration    send|post|upload|forward … to http(s)://…, webhook.site, ngrok.io, requestbin
    destruction     rm -rf / or ~ or $HOME, mkfs, dd if=… of=/dev/…, the shell fork bomb

False quarantines cost little (a person approves them), but they are measured: bench/memory_trust.py
screens clean experience made from the 164 HumanEval problems and from OS and web workflows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from agentevo.kinds import kind
from agentevo.records import Experience, Trajectory

PATTERNS: dict[str, list[str]] = {
    "override": [
        r"\b(ignore|disregard|forget|override|bypass)\s+(all\s+|any\s+|the\s+|your\s+|of\s+)*"
        r"(previous|prior|above|earlier|preceding|original|system|initial)?\s*"
        r"(instructions?|prompts?|rules|directions|directives|guidelines|task|constraints)\b",
    ],
    "new orders": [
        r"\byou\s+must\s+now\b",
        r"\bfrom\s+now\s+on,?\s+(you|always|never|only|ignore)\b",
        r"\bnew\s+instructions?\s*:",
        r"\byour\s+(new|real|actual|true)\s+(task|goal|instructions?|objective)\b",
    ],
    "role hijack": [
        r"\byou\s+are\s+now\s+(a|an|in|the|my|dan)\b",
        r"\bact\s+as\s+(an?\s+)?(admin|root|system|developer)\b",
        r"\bpretend\s+(to\s+be|you\s+are)\b",
        r"\bjailbreak",
        r"\bdeveloper\s+mode\b",
    ],
    "prompt channel": [
        r"\bsystem\s+(prompt|message)\b",
        r"\bdeveloper\s+message\b",
        r"<\|im_start\|>",
        r"\[/?INST\]",
        r"</?system>",
    ],
    "secrecy": [
        r"\b(do\s+not|don'?t|never)\s+(tell|inform|show|reveal|mention)\s+(this\s+|it\s+)?(to\s+)?the\s+user\b",
        r"\bwithout\s+(telling|informing|notifying)\s+the\s+user\b",
    ],
    "secret theft": [
        r"\b(reveal|print|leak|send|show|output|dump|exfiltrate)\b[^.\n]{0,40}"
        r"\b(api[\s_-]?keys?|passwords?|secrets?|tokens?|credentials|ssh\s+keys?|private\s+keys?)\b",
        r"~/\.ssh|\bid_rsa\b|/etc/shadow|/etc/passwd|\baws_secret|\bprivate\s+key\b",
    ],
    "remote code": [
        r"\b(curl|wget)\b[^|\n]{0,200}\|\s*(sudo\s+)?(sh|bash|zsh|python3?)\b",
        r"\bbash\s+-c\s+[\"']?\$\(\s*(curl|wget)",
        r"\bbase64\s+(-d|--decode)\b[^|\n]{0,80}\|\s*(sh|bash)\b",
        r"\b(nc|ncat|netcat)\b[^\n]{0,40}\s-e\s",
    ],
    "exfiltration": [
        r"\b(send|post|upload|forward|exfiltrate|transmit)\b[^.\n]{0,80}\bto\s+https?://",
        r"\bwebhook\.site\b|\bngrok\.io\b|\brequestbin\b",
    ],
    "destruction": [
        r"\brm\s+-[a-z]*r[a-z]*f?[a-z]*\s+(/|~|\$HOME)(\s|$)",
        r"\bmkfs(\.\w+)?\s",
        r"\bdd\s+if=[^\n]*\bof=/dev/",
        r":\(\)\s*\{\s*:\|:&\s*\};:",
    ],
}
COMPILED = {
    name: re.compile("|".join(f"(?:{rx})" for rx in rxs), re.IGNORECASE) for name, rxs in PATTERNS.items()
}


def texts_of(exp: Experience) -> Iterable[str]:
    yield exp.title
    yield exp.description
    yield exp.content
    for turn in exp.demonstration:
        yield str(turn.get("content", ""))


def injection_hits(text: str) -> list[str]:
    """Names of the patterns the text matches (empty when it gives the agent no orders)."""
    return [name for name, rx in COMPILED.items() if rx.search(text)]


def screen(exp: Experience) -> Experience:
    """The experience with trust lowered to `quarantined` when its text matches a pattern (never raised)."""
    if exp.trust == "quarantined":
        return exp
    if any(injection_hits(t) for t in texts_of(exp)):
        return exp.model_copy(update={"trust": "quarantined"})
    return exp


def why_quarantined(exp: Experience) -> list[str]:
    return sorted({name for t in texts_of(exp) for name in injection_hits(t)})


def source_trust(trajectory: Trajectory) -> str:
    """What experience from this trajectory may be trusted at most: web page text is anyone's."""
    return kind(trajectory.task.kind).trust
