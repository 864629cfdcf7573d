"""What the offline provider tells the user, in the request's language (English, Japanese).

:func:`summarize` turns a plan (its changes and notes) into the codegen summary: what was
made or changed, and honestly what could not be done ("Sound is not supported...",
"There is no quiz game yet, so I made the closest one...").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...templates import GameSettings, catalogue, common, manifest, pick
from ...templates.library import Setting
from .palette import color_name

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "created": "Created {title}, a {genre} game: {details}. Controls: {controls}.",
        "default": "You did not name a kind of game, so I made {title}, a {genre} game "
        "({details}). I can also make: {genres}.",
        "near": "There is no {wanted} game yet, so I made the closest one: {title}, a {genre} "
        "game ({details}).",
        "switched": "Turned your game into {title}, a {genre} game ({details}).",
        "replaced": "Replaced the existing project with {title}, a {genre} game ({details}).",
        "updated": "Updated {title}: {changes}.",
        "unchanged": "{title} is unchanged.",
        "details": "{palette} palette, speed {speed}/10, {difficulty} difficulty",
        "bg": "{theme} background",
        "sound_on": "sound effects on",
        "change_num": "{label} {old} → {new}",
        "slower": " (slower)",
        "faster": " (faster)",
        "change_bg": "background → {value}",
        "change_sound": "sound effects {value}",
        "change_palette": "palette {old} → {new}",
        "change_primary": "main colour → {value}",
        "change_background_color": "background colour → {value}",
        "change_title": "title → {value}",
        "change_subject": "the player is now a {value}",
        "change_item": "you now collect {value}",
        "unsupported_setting": "The {label} cannot be changed in {game}.",
        "unsupported_feature": "{feature} is not supported in {game} yet.",
        "already": "{game} already has {feature}.",
        "kept": "Kept the {label} at {value}.",
        "kept_color": "Kept the colours as they are.",
        "limit_max": "The {label} is already at its highest ({value}).",
        "limit_min": "The {label} is already at its lowest ({value}).",
        "near_edit": "There is no {wanted} game yet; your game stays {game}.",
        "nothing": "Tell me what to change: speed, difficulty, size, colours, background "
        "(stars, sky, sea), sound effects, title, or the kind of game.",
        "size_of": "{what} size",
        "list_sep": ", ",
    },
    "ja": {
        "created": "{title}（{genre}ゲーム）を作りました：{details}。操作：{controls}。",
        "default": "ゲームの種類の指定がなかったので、{title}（{genre}ゲーム）を作りました"
        "（{details}）。ほかに作れるゲーム：{genres}。",
        "near": "{wanted}ゲームのテンプレートはまだないので、いちばん近い{title}"
        "（{genre}ゲーム）を作りました（{details}）。",
        "switched": "ゲームを{title}（{genre}ゲーム）に変えました（{details}）。",
        "replaced": "既存のプロジェクトを{title}（{genre}ゲーム）に置き換えました（{details}）。",
        "updated": "{title}を更新しました：{changes}。",
        "unchanged": "{title}は変更していません。",
        "details": "{palette}カラー、スピード {speed}/10、難易度：{difficulty}",
        "bg": "背景は{theme}",
        "sound_on": "効果音あり",
        "change_num": "{label} {old} → {new}",
        "slower": "（遅く）",
        "faster": "（速く）",
        "change_bg": "背景 → {value}",
        "change_sound": "効果音 → {value}",
        "change_palette": "パレット {old} → {new}",
        "change_primary": "メインの色 → {value}",
        "change_background_color": "背景の色 → {value}",
        "change_title": "タイトル → {value}",
        "change_subject": "プレイヤー → {value}",
        "change_item": "集めるもの → {value}",
        "unsupported_setting": "{game}では{label}は変えられません。",
        "unsupported_feature": "{game}は{feature}にはまだ対応していません。",
        "already": "{game}にはもう{feature}があります。",
        "kept": "{label}は{value}のままにしました。",
        "kept_color": "色はそのままにしました。",
        "limit_max": "{label}はもう最大（{value}）です。",
        "limit_min": "{label}はもう最小（{value}）です。",
        "near_edit": "{wanted}ゲームのテンプレートはまだないので、ゲームは{game}のままです。",
        "nothing": "変えたいところを教えてください：スピード、難易度、大きさ、色、"
        "背景（星空・青空・海）、効果音、タイトル、ゲームの種類など。",
        "size_of": "{what}の大きさ",
        "list_sep": "、",
    },
}


def text(language: str, key: str, **values: Any) -> str:
    table = TEXT.get(language, TEXT["en"])
    return table[key].format(**values)


def _setting(s: GameSettings, name: str) -> Setting | None:
    return manifest(s.template_id).settings.get(name) or common().settings.get(name)


def _label(s: GameSettings, name: str, lang: str) -> str:
    setting = _setting(s, name)
    if setting is None:
        return name
    if name == "size" and setting.what:
        return text(lang, "size_of", what=pick(setting.what, lang))
    return pick(setting.label, lang)


def _word(s: GameSettings, name: str, value: Any, lang: str) -> str:
    setting = _setting(s, name)
    return setting.word(value, lang) if setting is not None else str(value)


def details(s: GameSettings, lang: str) -> str:
    palette = pick(common().palettes[s.palette].label, lang)
    out = text(
        lang,
        "details",
        palette=palette.lower() if lang == "en" else palette,
        speed=s.values.get("speed", 5),
        difficulty=_word(s, "difficulty", s.values.get("difficulty", "normal"), lang),
    )
    theme = s.values.get("background", "plain")
    sep = TEXT[lang]["list_sep"] if lang in TEXT else ", "
    if theme != "plain":
        out += sep + text(lang, "bg", theme=_word(s, "background", theme, lang))
    if s.values.get("sound"):
        out += sep + text(lang, "sound_on")
    return out


def _subject_name(sid: Any, lang: str) -> str:
    subject = common().subjects.get(str(sid))
    return (
        pick(subject.name, lang).lower()
        if subject and lang == "en"
        else (pick(subject.name, lang) if subject else str(sid))
    )


def change_line(s: GameSettings, c: Mapping[str, Any], lang: str) -> str:
    what = c["what"]
    if what == "background":
        return text(lang, "change_bg", value=_word(s, what, c["to"], lang))
    if what == "sound":
        return text(lang, "change_sound", value=_word(s, what, c["to"], lang))
    if what == "palette":
        labels = common().palettes
        return text(
            lang,
            "change_palette",
            old=pick(labels[c["from"]].label, lang),
            new=pick(labels[c["to"]].label, lang),
        )
    if what in ("primary", "background_color"):
        return text(lang, f"change_{what}", value=color_name(c["to"], lang))
    if what == "title":
        return text(lang, "change_title", value=c["to"])
    if what in ("subject", "item"):
        return text(lang, f"change_{what}", value=_subject_name(c["to"], lang))
    line = text(
        lang,
        "change_num",
        label=_label(s, what, lang),
        old=_word(s, what, c["from"], lang),
        new=_word(s, what, c["to"], lang),
    )
    if what == "speed":
        line += text(lang, "slower" if c["to"] < c["from"] else "faster")
    return line


def note_line(s: GameSettings, n: Mapping[str, Any], lang: str) -> str | None:
    game = s.title
    kind = n["kind"]
    if kind == "unsupported_setting":
        return text(lang, "unsupported_setting", label=_label(s, n["setting"], lang), game=game)
    if kind in ("unsupported", "already"):
        feature = pick(common().features[n["feature"]].name, lang)
        if kind == "already":
            return text(lang, "already", game=game, feature=feature)
        return text(
            lang, "unsupported_feature", game=game, feature=feature[:1].upper() + feature[1:]
        )
    if kind == "kept":
        value = _word(s, n["setting"], n["value"], lang)
        return text(lang, "kept", label=_label(s, n["setting"], lang), value=value)
    if kind == "kept_color":
        return text(lang, "kept_color")
    if kind == "limit":
        value = _word(s, n["setting"], n["value"], lang)
        key = "limit_max" if n["edge"] == "max" else "limit_min"
        return text(lang, key, label=_label(s, n["setting"], lang), value=value)
    if kind == "near_edit":
        return text(lang, "near_edit", wanted=pick(n["genre"], lang), game=game)
    return None


def summarize(s: GameSettings, plan: Mapping[str, Any]) -> str:
    """The codegen summary for the game ``s`` made from ``plan`` (the offline plan), in the
    request's language (``plan["language"]``; the game keeps its own when nothing changed)."""
    lang = plan.get("language") if plan.get("language") in TEXT else s.language
    m = manifest(s.template_id)
    changes = [c for c in plan.get("changes") or [] if isinstance(c, Mapping)]
    notes = [n for n in plan.get("notes") or [] if isinstance(n, Mapping)]
    kinds = {n.get("kind") for n in notes}
    values = {
        "title": s.title,
        "genre": pick(m.genre, lang),
        "details": details(s, lang),
        "controls": pick(m.controls, lang),
    }
    if plan.get("codegen_strategy") == "edit":
        if changes:
            sep = TEXT[lang]["list_sep"] if lang in TEXT else ", "
            head = text(
                lang,
                "updated",
                title=s.title,
                changes=sep.join(change_line(s, c, lang) for c in changes),
            )
        else:
            head = text(lang, "unchanged", title=s.title)
    elif "near" in kinds:
        near = next(n for n in notes if n.get("kind") == "near")
        head = text(lang, "near", wanted=pick(near["genre"], lang), **values)
    elif "default" in kinds:
        sep = TEXT[lang]["list_sep"] if lang in TEXT else ", "
        others = sep.join(
            pick(t.title, lang) for t in catalogue().values() if t.id != s.template_id
        )
        head = text(lang, "default", genres=others, **values)
    elif "switched" in kinds:
        head = text(lang, "switched", **values)
    elif plan.get("base") == "foreign":
        head = text(lang, "replaced", **values)
    else:
        head = text(lang, "created", **values)
    tail = [line for n in notes if (line := note_line(s, n, lang))]
    if plan.get("codegen_strategy") == "edit" and not changes and not tail:
        tail.append(text(lang, "nothing"))
    space = "" if lang == "ja" else " "
    return space.join([head, *tail])
