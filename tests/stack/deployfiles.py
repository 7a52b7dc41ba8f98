"""Just enough parsers for the deployment files: compose, Dockerfile, nginx, lock files.

No Docker engine (and no compose plugin) runs here, so the stack tests read
the files the way the tools would: compose's variable interpolation, the
Dockerfile's stages, nginx's directive tree, pip-compile's hashed pins.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]

# --- compose ------------------------------------------------------------------------

_COMPOSE_VARIABLE = re.compile(r"\$(?:(\$)|\{(\w+)(?:(:?[-?+])([^}]*))?\}|(\w+))")


class MissingVariable(ValueError):
    """A ${VAR:?message} whose variable is not set: compose refuses to start."""


def interpolate(value, env: dict[str, str]):
    """Resolve compose's $VAR / ${VAR:-default} / ${VAR:?error} / $$ against ``env``."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def resolve(match: re.Match) -> str:
        escaped, name, operator, argument, bare = match.groups()
        if escaped:
            return "$"
        name = name or bare
        current = env.get(name)
        unset_or_empty = not current if operator and operator.startswith(":") else current is None
        match operator:
            case None:
                return current or ""
            case ":-" | "-":
                return argument if unset_or_empty else current
            case ":?" | "?":
                if unset_or_empty:
                    raise MissingVariable(f"{name}: {argument}")
                return current
            case _:  # ":+" / "+"
                return "" if unset_or_empty else argument

    return _COMPOSE_VARIABLE.sub(resolve, value)


def load_compose(env: dict[str, str]) -> dict:
    return interpolate(yaml.safe_load((ROOT / "docker-compose.yml").read_text()), env)


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


@dataclass(frozen=True)
class PortMapping:
    host_ip: str
    host_port: str
    container_port: str


def port_mappings(service: dict) -> list[PortMapping]:
    """Short-syntax "[ip:]host:container" ports (IPv6 host IPs in brackets)."""
    found = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            found.append(PortMapping(entry.get("host_ip", ""), str(entry.get("published", "")), str(entry["target"])))
            continue
        match = re.fullmatch(r"(?:(\[[^\]]+\]|[^:]+):)?(?:(\d*):)?(\d+)(?:/\w+)?", str(entry))
        assert match, f"cannot read port mapping {entry!r}"
        ip, host, container = match.groups()
        found.append(PortMapping(ip or "", host or "", container))
    return found


def command_list(command) -> list[str]:
    """A healthcheck test or command as a list of arguments ("CMD" dropped)."""
    if isinstance(command, str):
        return ["sh", "-c", command]
    items = [str(c) for c in command]
    if items and items[0] in ("CMD", "CMD-SHELL"):
        return items[1:] if items[0] == "CMD" else ["sh", "-c", *items[1:]]
    return items


# --- Dockerfile ---------------------------------------------------------------------


class Dockerfile:
    """Instructions grouped into stages, with ARGs declared before FROM resolved."""

    def __init__(self, text: str) -> None:
        lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
        joined = re.sub(r"\\\n", " ", "\n".join(lines))
        self.global_args: dict[str, str] = {}
        self.stages: dict[str, list[tuple[str, str]]] = {}
        self.bases: dict[str, str] = {}
        self.order: list[str] = []
        current: str | None = None
        for line in joined.splitlines():
            if not line.strip():
                continue
            keyword, _, args = line.strip().partition(" ")
            keyword, args = keyword.upper(), args.strip()
            if keyword == "ARG" and current is None:
                name, _, default = args.partition("=")
                self.global_args[name] = default
            elif keyword == "FROM":
                parts = args.split()
                current = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else f"stage{len(self.order)}"
                self.stages[current] = []
                self.bases[current] = re.sub(
                    r"\$\{?(\w+)\}?", lambda m: self.global_args.get(m.group(1), m.group(0)), parts[0]
                )
                self.order.append(current)
            else:
                self.stages[current].append((keyword, args))

    @classmethod
    def load(cls) -> Dockerfile:
        return cls((ROOT / "Dockerfile").read_text())

    def chain(self, stage: str) -> list[str]:
        """The stage and the stages it builds FROM, outermost first."""
        names = [stage]
        while self.bases[names[-1]] in self.stages:
            names.append(self.bases[names[-1]])
        return list(reversed(names))

    def base_image(self, stage: str) -> str:
        return self.bases[self.chain(stage)[0]]

    def steps(self, stage: str) -> list[tuple[str, str]]:
        return [step for name in self.chain(stage) for step in self.stages[name]]

    def effective(self, stage: str, keyword: str) -> list[str]:
        return [args for kw, args in self.steps(stage) if kw == keyword]

    def env(self, stage: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for args in self.effective(stage, "ENV"):
            found.update(dict(re.findall(r"(\w+)=(\S+)", args)))
        return found

    def command(self, stage: str) -> list[str]:
        return json.loads(self.effective(stage, "CMD")[-1])

    def copies(self, stage: str) -> list[tuple[list[str], str, dict[str, str]]]:
        """(sources, destination, flags) of every COPY in the stage's chain."""
        found = []
        for args in self.effective(stage, "COPY"):
            words = args.split()
            flags = dict(w[2:].partition("=")[::2] for w in words if w.startswith("--"))
            paths = [w for w in words if not w.startswith("--")]
            found.append((paths[:-1], paths[-1], flags))
        return found

    @property
    def final(self) -> str:
        return self.order[-1]


# --- nginx --------------------------------------------------------------------------


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] | None = None

    def find(self, name: str) -> list[Directive]:
        return [d for d in self.block or [] if d.name == name]

    def one(self, name: str) -> Directive:
        found = self.find(name)
        assert len(found) == 1, f"expected one {name!r} in {self.name}, found {len(found)}"
        return found[0]

    def value(self, name: str) -> str:
        return " ".join(self.one(name).args)


def _nginx_tokens(text: str):
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "#":
            i = text.find("\n", i) if "\n" in text[i:] else n
        elif ch in "{};":
            yield ch
            i += 1
        elif ch in "'\"":
            end = text.index(ch, i + 1)
            yield text[i + 1 : end].encode().decode("unicode_escape")
            i = end + 1
        else:
            match = re.compile(r"(?:\$\{\w+\}|[^\s{};'\"])+").match(text, i)
            yield match.group(0)
            i = match.end()


def parse_nginx(text: str) -> Directive:
    """The directive tree of an nginx config (enough for ours: no includes, no Lua)."""
    root = Directive("main", [], [])
    stack = [root]
    words: list[str] = []
    for token in _nginx_tokens(text):
        if token == ";":
            stack[-1].block.append(Directive(words[0], words[1:]))
            words = []
        elif token == "{":
            block = Directive(words[0], words[1:], [])
            stack[-1].block.append(block)
            stack.append(block)
            words = []
        elif token == "}":
            assert not words, f"unterminated directive {words}"
            stack.pop()
        else:
            words.append(token)
    assert len(stack) == 1 and not words, "unbalanced braces in the nginx config"
    return root


def nginx_size(value: str) -> int:
    """nginx's 1k / 1m / 512 sizes in bytes."""
    match = re.fullmatch(r"(\d+)([kKmMgG]?)", value)
    assert match, value
    return int(match.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[match.group(2).lower()]


def nginx_seconds(value: str) -> float:
    """nginx's 10s / 1m / 500ms / 30 durations in seconds."""
    match = re.fullmatch(r"(\d+)(ms|s|m|h)?", value)
    assert match, value
    return int(match.group(1)) * {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}[match.group(2)]


# --- lock files ---------------------------------------------------------------------


@dataclass
class Pin:
    name: str
    version: str
    hashes: list[str] = field(default_factory=list)


def read_lock(path: Path) -> dict[str, Pin]:
    """The ``name==version --hash=sha256:...`` entries of a pip-compile output."""
    text = re.sub(r"\\\n", " ", path.read_text())
    pins: dict[str, Pin] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, *options = line.split()
        name, _, version = requirement.partition("==")
        hashes = [o.split(":", 1)[1] for o in options if o.startswith("--hash=sha256:")]
        pins[canonical(name)] = Pin(canonical(name), version, hashes)
    return pins


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
