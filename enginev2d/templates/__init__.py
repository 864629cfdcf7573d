"""The template library (design 20, "Phase 3"), shared by every provider.

``templates/<id>/`` holds a game (``game.js``) and its ``manifest.toml`` (title per
language, genre, keywords in English and Japanese, controls, the settings it exposes with
their ranges, sprites); ``templates/_common/`` the files and data every game shares.

- :mod:`.library`: loading, :func:`catalogue`, :func:`catalogue_text` for model prompts.
- :mod:`.matching`: which template (or genre without one) a request names.
- :mod:`.render`: :class:`GameSettings` and the files a template renders into.
- :mod:`.preview`: :func:`preview_files`, the playable preview of a plan.
"""

from .library import (
    FILES,
    LANGUAGES,
    Manifest,
    Setting,
    TemplateError,
    catalogue,
    catalogue_text,
    common,
    detect_language,
    manifest,
    pick,
    templates_root,
)
from .matching import near_genre, normalize, subjects_in, template_scores
from .preview import codegen_base, overlay_answer, overlay_files, preview_files
from .render import (
    GameSettings,
    defaults,
    from_json,
    normalize_template_id,
    read_marker,
    render_files,
    sprite_map,
)

__all__ = [
    "FILES",
    "LANGUAGES",
    "GameSettings",
    "Manifest",
    "Setting",
    "TemplateError",
    "catalogue",
    "catalogue_text",
    "codegen_base",
    "common",
    "defaults",
    "detect_language",
    "from_json",
    "manifest",
    "near_genre",
    "normalize",
    "normalize_template_id",
    "overlay_answer",
    "overlay_files",
    "pick",
    "preview_files",
    "read_marker",
    "render_files",
    "sprite_map",
    "subjects_in",
    "template_scores",
    "templates_root",
]
