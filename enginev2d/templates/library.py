"""The template library on disk: ``templates/<id>/manifest.toml`` + files, and ``_common/``.

Every provider uses it: the offline provider matches the manifests' keywords and renders
the files; for a model, ``plan`` gets :func:`catalogue_text` and ``codegen`` the rendered
files of the chosen template. The directory is found next to the package (source tree)
or inside it as ``enginev2d/_templates`` (an installed wheel).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

LANGUAGES = ("en", "ja")
DEFAULT_LANGUAGE = "en"
COMMON = "_common"
# Every template is made of these files; the shared ones come from _common/.
FILES = ("index.html", "style.css", "config.js", "runtime.js", "game.js")
SHARED = frozenset({"index.html", "style.css", "config.js", "runtime.js"})
CORE_SETTINGS = ("speed", "difficulty", "size", "background", "sound")  # config.js constants
COLOR_KEYS = ("primary", "secondary", "accent", "background", "text")
ASSET_DIR = "assets"

_JA_CHARS = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff66-\uff9f]")
_LATIN = re.compile(r"[A-Za-z]")


class TemplateError(ValueError):
    """The library on disk is malformed (a packaging or authoring bug, found at load)."""


def templates_root() -> Path:
    """``templates/``: packaged as ``enginev2d/_templates``, or in the source tree."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "_templates", here.parent / "templates"):
        if (candidate / COMMON / "common.toml").is_file():
            return candidate
    raise FileNotFoundError("enginev2d: templates/ directory not found next to the package")


def detect_language(text: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """``ja`` when the text has kana or kanji, ``en`` when it has Latin letters, else
    ``default`` (a message like "8" or "!!" says nothing about the language)."""
    if not text:
        return default
    if _JA_CHARS.search(text):
        return "ja"
    if _LATIN.search(text):
        return "en"
    return default


def pick(texts: Mapping[str, str], language: str) -> str:
    """The text in ``language``, else English."""
    return texts.get(language) or texts.get(DEFAULT_LANGUAGE) or next(iter(texts.values()), "")


@dataclass(frozen=True)
class Setting:
    name: str
    type: str  # int | choice | bool
    default: Any
    label: Mapping[str, str]
    min: int = 0
    max: int = 0
    choices: tuple[str, ...] = ()
    names: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # lang -> value -> word
    what: Mapping[str, str] = field(default_factory=dict)  # what the setting changes, per lang

    def clamp(self, value: object) -> Any:
        """``value`` made valid for this setting (out of range: clamped; wrong: default)."""
        if self.type == "int":
            if isinstance(value, bool) or not isinstance(value, int | float):
                return self.default
            return max(self.min, min(self.max, int(value)))
        if self.type == "bool":
            return value if isinstance(value, bool) else self.default
        return value if value in self.choices else self.default

    def word(self, value: Any, language: str) -> str:
        """How a value reads in a summary: "hard" -> "むずかしい"."""
        key = str(value).lower() if isinstance(value, bool) else str(value)
        return (
            pick({lang: names.get(key, key) for lang, names in self.names.items()}, language) or key
        )

    def describe(self) -> str:
        if self.type == "int":
            return f"{self.min}-{self.max} (default {self.default})"
        if self.type == "bool":
            return f"true|false (default {str(self.default).lower()})"
        return "|".join(self.choices) + f" (default {self.default})"


@dataclass(frozen=True)
class SpriteSpec:
    role: str
    width: int
    height: int
    description: str  # subject of the image prompt

    @property
    def path(self) -> str:
        return f"{ASSET_DIR}/{self.role}.png"


@dataclass(frozen=True)
class Manifest:
    id: str
    genre: Mapping[str, str]
    title: Mapping[str, str]
    description: Mapping[str, str]
    controls: Mapping[str, str]
    canvas: tuple[int, int]
    palette: str
    skills: tuple[str, ...]
    settings: Mapping[str, Setting]  # name -> definition (common ones merged with overrides)
    sprites: tuple[SpriteSpec, ...]
    keywords: Mapping[str, Mapping[str, int]]  # lang -> word -> weight
    text: Mapping[str, Mapping[str, str]]  # lang -> key -> text (common merged in)
    player: str | None = None  # sprite role drawn as the request's subject ("a cat ...")
    item: str | None = None  # sprite role drawn as what is collected ("... catches fish")
    has: tuple[str, ...] = ()  # features this game has besides the ones every game has

    def name(self, language: str) -> str:
        return pick(self.title, language)


@dataclass(frozen=True)
class Palette:
    name: str
    colors: Mapping[str, str]
    glow: int
    style: bool
    label: Mapping[str, str]


@dataclass(frozen=True)
class Near:
    """A genre with no template: requests for it get ``template`` and are told so."""

    genre: Mapping[str, str]
    words: Mapping[str, tuple[str, ...]]
    template: str


@dataclass(frozen=True)
class Subject:
    id: str
    name: Mapping[str, str]
    words: Mapping[str, tuple[str, ...]]
    prefers: str | None = None  # template made when no kind of game is named


@dataclass(frozen=True)
class Feature:
    """Something a request may ask for that is not a setting ("add music")."""

    id: str
    name: Mapping[str, str]
    words: Mapping[str, tuple[str, ...]]
    always: bool = False  # every game has it


@dataclass(frozen=True)
class Common:
    settings: Mapping[str, Setting]
    palettes: Mapping[str, Palette]
    text: Mapping[str, Mapping[str, str]]
    near: tuple[Near, ...]
    subjects: Mapping[str, Subject]
    features: Mapping[str, Feature]


def _langs(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or DEFAULT_LANGUAGE not in value:
        raise TemplateError(f"{where}: needs a table with at least an '{DEFAULT_LANGUAGE}' entry")
    return {str(k): str(v) for k, v in value.items()}


def _setting(name: str, raw: Mapping[str, Any], base: Setting | None, where: str) -> Setting:
    merged: dict[str, Any] = {}
    if base is not None:
        merged = {
            "type": base.type,
            "default": base.default,
            "label": base.label,
            "min": base.min,
            "max": base.max,
            "choices": base.choices,
            "names": base.names,
            "what": base.what,
        }
    merged.update(raw)
    kind = merged.get("type")
    if kind not in ("int", "choice", "bool"):
        raise TemplateError(f"{where}: setting {name!r} needs type int, choice or bool")
    setting = Setting(
        name=name,
        type=kind,
        default=merged.get("default"),
        label=_langs(merged.get("label"), f"{where} setting {name} label"),
        min=int(merged.get("min", 0)),
        max=int(merged.get("max", 0)),
        choices=tuple(merged.get("choices", ())),
        names={k: dict(v) for k, v in dict(merged.get("names", {})).items()},
        what=dict(merged.get("what", {})),
    )
    if setting.clamp(setting.default) != setting.default:
        raise TemplateError(f"{where}: setting {name!r} default is out of its range")
    return setting


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TemplateError(f"{path}: {exc}") from None


@cache
def common() -> Common:
    raw = _read_toml(templates_root() / COMMON / "common.toml")
    where = "_common/common.toml"
    settings = {n: _setting(n, s, None, where) for n, s in raw["settings"].items()}
    palettes = {}
    for name, p in raw["palettes"].items():
        colors = [str(c).lower() for c in p["colors"]]
        if len(colors) != len(COLOR_KEYS):
            raise TemplateError(f"{where}: palette {name} needs {len(COLOR_KEYS)} colours")
        palettes[name] = Palette(
            name,
            dict(zip(COLOR_KEYS, colors, strict=True)),
            int(p.get("glow", 0)),
            bool(p.get("style", False)),
            _langs(p.get("name"), f"{where} palette {name}"),
        )
    near = tuple(
        Near(
            _langs(n["genre"], f"{where} near"),
            {k: tuple(v) for k, v in n["words"].items()},
            str(n["template"]),
        )
        for n in raw.get("near", [])
    )
    subjects = {
        sid: Subject(
            sid,
            _langs(s["name"], f"{where} subject {sid}"),
            {k: tuple(v) for k, v in s["words"].items()},
            s.get("prefers"),
        )
        for sid, s in raw.get("subjects", {}).items()
    }
    features = {
        fid: Feature(
            fid,
            _langs(f["name"], f"{where} feature {fid}"),
            {k: tuple(v) for k, v in f["words"].items()},
            bool(f.get("always", False)),
        )
        for fid, f in raw.get("features", {}).items()
    }
    text = {lang: dict(raw["text"].get(lang, {})) for lang in LANGUAGES}
    return Common(settings, palettes, text, near, subjects, features)


def _manifest(folder: Path) -> Manifest:
    raw = _read_toml(folder / "manifest.toml")
    where = f"{folder.name}/manifest.toml"
    if raw.get("id") != folder.name:
        raise TemplateError(f"{where}: id must be {folder.name!r}")
    shared = common()
    own = raw.get("setting", {})
    settings: dict[str, Setting] = {}
    for name in raw["settings"]:
        base = shared.settings.get(name)
        if base is None and name not in own:
            raise TemplateError(f"{where}: setting {name!r} is neither common nor defined here")
        settings[name] = _setting(name, own.get(name, {}), base, where)
    text = {lang: {**shared.text[lang], **raw.get("text", {}).get(lang, {})} for lang in LANGUAGES}
    missing = set(text["en"]) ^ set(text["ja"])
    if missing:
        raise TemplateError(f"{where}: texts not in both languages: {sorted(missing)}")
    sprites = tuple(
        SpriteSpec(s["role"], int(s["width"]), int(s["height"]), s["description"])
        for s in raw.get("sprites", [])
    )
    roles = {s.role for s in sprites}
    for key in ("player", "item"):
        if raw.get(key) is not None and raw[key] not in roles:
            raise TemplateError(f"{where}: {key} {raw[key]!r} is not a sprite role")
    if raw["palette"] not in shared.palettes:
        raise TemplateError(f"{where}: unknown palette {raw['palette']!r}")
    unknown = set(raw.get("has", ())) - set(shared.features)
    if unknown:
        raise TemplateError(f"{where}: unknown features in has: {sorted(unknown)}")
    return Manifest(
        id=raw["id"],
        genre=_langs(raw["genre"], f"{where} genre"),
        title=_langs(raw["title"], f"{where} title"),
        description=_langs(raw["description"], f"{where} description"),
        controls=_langs(raw["controls"], f"{where} controls"),
        canvas=(int(raw["canvas"][0]), int(raw["canvas"][1])),
        palette=raw["palette"],
        skills=tuple(raw.get("skills", ())),
        settings=settings,
        sprites=sprites,
        keywords={lang: dict(words) for lang, words in raw.get("keywords", {}).items()},
        text=text,
        player=raw.get("player"),
        item=raw.get("item"),
        has=tuple(raw.get("has", ())),
    )


@cache
def catalogue() -> Mapping[str, Manifest]:
    """Every template by id, in a stable order (the library's folder names, sorted)."""
    root = templates_root()
    out = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")):
        if (folder / "manifest.toml").is_file():
            out[folder.name] = _manifest(folder)
    shared = common()
    pointers = [n.template for n in shared.near] + [s.prefers for s in shared.subjects.values()]
    for tid in pointers:
        if tid is not None and tid not in out:
            raise TemplateError(f"_common/common.toml: points at unknown template {tid!r}")
    return out


def manifest(template_id: str) -> Manifest:
    return catalogue()[template_id]


@cache
def source(template_id: str, filename: str) -> str:
    """The raw (token-bearing) text of one file of a template."""
    folder = COMMON if filename in SHARED else template_id
    return (templates_root() / folder / filename).read_text(encoding="utf-8")


def catalogue_text() -> str:
    """The catalogue in one line per template, for a model's plan prompt: the settings
    every template shares once, then each template's id, names, summary and extras."""
    shared = [n for n in CORE_SETTINGS if n != "size"]
    common_defs = common().settings
    lines = [
        "Every template has: "
        + "; ".join(f"{n} {common_defs[n].describe()}" for n in shared)
        + ". Palettes: "
        + ", ".join(common().palettes)
        + "."
    ]
    for m in catalogue().values():
        extras = [f"{s.name} {s.describe()}" for n, s in m.settings.items() if n not in shared]
        more = f" Also: {'; '.join(extras)}." if extras else ""
        lines.append(
            f"- {m.id}: {m.title['en']} / {m.title.get('ja', m.title['en'])} "
            f"({m.genre['en']}). {m.description['en']}{more}"
        )
    return "\n".join(lines)
