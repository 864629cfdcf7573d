"""Offline provider: deterministic template-based game generation (design 20, phase 3).

The embedded default provider: no network, no API keys, milliseconds per task.
``OfflineProvider`` answers every task of the DAG (design 7.3):

- ``intent``: rules over English and Japanese keywords (:mod:`.intent`).
- ``plan``: picks one of :data:`TEMPLATE_IDS` and settings (palette, speed,
  difficulty, title) from the request; for a game it made earlier (recognised by
  the ``<meta name="generator" content="enginev2d-offline/1 ...">`` marker in
  index.html) it keeps the template and merges the requested changes.
- ``codegen``: fills ``templates/<id>/game.js`` and the shared
  ``templates/_common/{index.html,style.css}``.
- ``image_specs``/``images``: sprites ``assets/<role>.png`` drawn procedurally as PNG.
- ``qa_review``/``fix``: real static checks (:mod:`.qa`) and repairs (:mod:`.fix`).

Images link to code by path: the game's ``SPRITES`` map holds, for each sprite
role of the template, the ``name`` of the image spec whose file stem is that role
(``assets/head.png`` -> ``head``). Roles without an image spec, and images that
fail to load, are drawn as fallback shapes.
"""

from .catalog import TEMPLATE_IDS
from .jscheck import check_js_syntax
from .provider import OfflineProvider

__all__ = ["TEMPLATE_IDS", "OfflineProvider", "check_js_syntax"]
