"""Offline provider: deterministic template-based game generation (design 20, phase 3).

The embedded default provider: no network, no API keys, milliseconds per task.
``OfflineProvider`` answers every task of the DAG (design 7.3) from the template library
(:mod:`enginev2d.templates`, the top-level ``templates/``):

- ``intent``: rules over English and Japanese words (:mod:`.intent`), with a short
  reply for chat and the step (undo / redo) for restore.
- ``plan``: the template the request names (keywords, genres without a template get the
  nearest one) and its settings (:mod:`.request` reads the words, :mod:`.settings` applies
  them); for a game made earlier (the ``<meta name="generator">`` marker in index.html) it
  keeps the template, or switches when asked, and merges the requested changes.
- ``codegen``: renders the template with the settings; the summary (:mod:`.summary`) says
  what changed and what could not be done, in the request's language.
- ``image_specs``/``images``: sprites ``assets/<role>.png`` drawn procedurally as PNG
  (:mod:`.sprites`, :mod:`.subjects`: a cat, a fish... when the request names one).
- ``qa_review``/``fix``: real static checks (:mod:`.qa`) and repairs (:mod:`.fix`).

Images link to code by path: the game's ``SPRITES`` map (config.js) holds, for each sprite
role of the template, the ``name`` of the image spec whose file stem is that role
(``assets/head.png`` -> ``head``). Roles without an image spec, and images that fail to
load, are drawn as fallback shapes.
"""

from .catalog import TEMPLATE_IDS
from .jscheck import check_js_syntax
from .provider import OfflineProvider

__all__ = ["TEMPLATE_IDS", "OfflineProvider", "check_js_syntax"]
