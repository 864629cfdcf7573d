"""qa_review finds real problems, and fix() repairs them so a second review is clean."""

from __future__ import annotations

import pytest

from enginev2d.providers.offline import OfflineProvider

P = OfflineProvider()

MINIMAL_JS = """
const canvas = document.getElementById('screen');
const ctx = canvas.getContext('2d');
let x = 0;
function loop() {
  x = (x + 2) % canvas.width;
  ctx.fillRect(x, 10, 10, 10);
  requestAnimationFrame(loop);
}
requestAnimationFrame(loop);
"""
MINIMAL_HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Mini</title><link rel="stylesheet" href="style.css"></head>
<body><canvas id="screen" width="320" height="240"></canvas>
<script src="main.js"></script>
</body></html>
"""


def _foreign(**overrides: str | None) -> list[dict]:
    """A small hand-written game (not made by the offline provider)."""
    files = {"index.html": MINIMAL_HTML, "main.js": MINIMAL_JS, "style.css": "body{margin:0}"}
    files.update(overrides)
    return [{"path": k, "content": v} for k, v in files.items() if v is not None]


def _generated(message: str = "make me a neon snake game") -> tuple[dict, list[dict]]:
    plan = P.plan(message, "edit", {})
    return plan, P.codegen(message, plan, {})["files"]


def _replace(files: list[dict], path: str, old: str, new: str) -> list[dict]:
    out = []
    for f in files:
        if f["path"] == path:
            assert old in f["content"], f"{old!r} not in {path}"
            f = {"path": path, "content": f["content"].replace(old, new)}
        out.append(f)
    return out


def _descriptions(review: dict) -> str:
    return "\n".join(f["description"] for f in review["findings"])


def _fix_and_recheck(files: list[dict], plan: dict) -> tuple[dict, list[dict]]:
    review = P.qa_review(files, plan)
    fixed = P.fix(files, review["findings"])["files"]
    assert P.fix(files, review["findings"])["files"] == fixed  # deterministic
    return P.qa_review(fixed, plan), fixed


def test_clean_foreign_game_passes() -> None:
    assert P.qa_review(_foreign(), {}) == {"issues": 0, "findings": []}


def test_missing_index_html() -> None:
    files = _foreign(**{"index.html": None})
    review = P.qa_review(files, {})
    assert review["issues"] >= 1
    assert "no index.html" in _descriptions(review)
    again, fixed = _fix_and_recheck(files, {})
    assert again["issues"] == 0
    index = next(f["content"] for f in fixed if f["path"] == "index.html")
    assert 'id="screen"' in index  # the id the script looks the canvas up by
    assert '<script src="main.js">' in index


def test_missing_referenced_script_is_found_and_stubbed() -> None:
    html = MINIMAL_HTML.replace("</body>", '<script src="levels.js"></script>\n</body>')
    files = _foreign(**{"index.html": html})
    review = P.qa_review(files, {})
    assert review["issues"] == 1
    assert review["findings"][0]["severity"] == "error"
    assert "'levels.js'" in review["findings"][0]["description"]
    again, fixed = _fix_and_recheck(files, {})
    assert again["issues"] == 0
    assert [f["path"] for f in fixed][-1] == "levels.js"


def test_missing_asset_in_a_js_string_is_found() -> None:
    js = MINIMAL_JS + "const img = new Image();\nimg.src = 'assets/hero.png';\n"
    files = _foreign(**{"main.js": js})
    review = P.qa_review(files, {})
    assert review["issues"] == 1
    assert "'assets/hero.png'" in _descriptions(review)
    # Present when the plan's image specs (the asset task's output) name it.
    plan = {"image_specs": [{"name": "assets/hero.png", "prompt": "", "width": 8, "height": 8}]}
    assert P.qa_review(files, plan)["issues"] == 0
    # A path in a comment is not a reference.
    commented = _foreign(**{"main.js": MINIMAL_JS + "// later: 'assets/hero.png'\n"})
    assert P.qa_review(commented, {})["issues"] == 0


def test_missing_image_reference_is_removed_so_the_fallback_draws() -> None:
    plan, files = _generated()
    no_images = {**plan, "image_specs": [s for s in plan["image_specs"] if "head" not in s["name"]]}
    review = P.qa_review(files, no_images)
    assert review["issues"] == 1 and "'assets/head.png'" in _descriptions(review)
    again, fixed = _fix_and_recheck(files, no_images)
    assert again["issues"] == 0
    js = next(f["content"] for f in fixed if f["path"] == "config.js")
    assert "assets/head.png" not in js and "assets/food.png" in js


def test_broken_js_in_generated_game_is_restored_from_the_template() -> None:
    plan, files = _generated()
    broken = _replace(files, "game.js", "function step() {", "function step() { if (x {")
    review = P.qa_review(broken, plan)
    assert review["issues"] == 1
    assert review["findings"][0]["severity"] == "error"
    assert "syntax" in review["findings"][0]["description"].lower()
    again, fixed = _fix_and_recheck(broken, plan)
    assert again["issues"] == 0
    assert fixed == files  # exactly the original game


def test_truncated_js_in_a_foreign_game_gets_its_closers() -> None:
    # Cut off inside loop(), as a model's output stopped by a token limit would be.
    truncated = MINIMAL_JS[: MINIMAL_JS.index("}\nrequestAnimationFrame(loop);")]
    files = _foreign(**{"main.js": truncated})
    review = P.qa_review(files, {})
    assert "syntax" in _descriptions(review).lower()
    again, fixed = _fix_and_recheck(files, {})
    assert again["issues"] == 0, again
    assert next(f["content"] for f in fixed if f["path"] == "main.js").rstrip().endswith("}")


def test_no_canvas_is_found_and_added_with_the_scripts_id() -> None:
    html = MINIMAL_HTML.replace('<canvas id="screen" width="320" height="240"></canvas>', "")
    files = _foreign(**{"index.html": html})
    review = P.qa_review(files, {})
    assert review["issues"] == 1 and "no <canvas>" in _descriptions(review)
    again, fixed = _fix_and_recheck(files, {})
    assert again["issues"] == 0
    assert '<canvas id="screen"' in fixed[0]["content"]


def test_canvas_created_by_script_counts() -> None:
    html = MINIMAL_HTML.replace('<canvas id="screen" width="320" height="240"></canvas>', "")
    js = "const c = document.createElement('canvas');\ndocument.body.appendChild(c);\n"
    js += "setInterval(() => c.getContext('2d').fillRect(0, 0, 5, 5), 16);\n"
    assert P.qa_review(_foreign(**{"index.html": html, "main.js": js}), {})["issues"] == 0


def test_missing_script_tag_is_reinserted() -> None:
    html = MINIMAL_HTML.replace('<script src="main.js"></script>\n', "")
    files = _foreign(**{"index.html": html})
    review = P.qa_review(files, {})
    descriptions = _descriptions(review)
    assert "'main.js' is never loaded" in descriptions
    again, fixed = _fix_and_recheck(files, {})
    assert again["issues"] == 0
    assert '<script src="main.js"></script>\n</body>' in fixed[0]["content"]


def test_generated_game_missing_its_script_tag_is_rendered_again() -> None:
    plan, files = _generated("a breakout game")
    broken = _replace(files, "index.html", '<script src="game.js"></script>\n', "")
    assert P.qa_review(broken, plan)["issues"] >= 1
    again, fixed = _fix_and_recheck(broken, plan)
    assert again["issues"] == 0 and fixed == files


def test_no_game_loop_gets_one() -> None:
    js = MINIMAL_JS.replace("requestAnimationFrame(loop);\n}\nrequestAnimationFrame(loop);", "}")
    js = js.replace("  requestAnimationFrame(loop);\n", "")
    assert "requestAnimationFrame" not in js
    files = _foreign(**{"main.js": js})
    review = P.qa_review(files, {})
    assert review["issues"] == 1 and "No game loop" in _descriptions(review)
    again, fixed = _fix_and_recheck(files, {})
    assert again["issues"] == 0
    assert "loop();\n  requestAnimationFrame(enginev2dLoop);" in fixed[1]["content"]


def test_html_structure_problems() -> None:
    html = MINIMAL_HTML.replace("<body>", "<body><div class='hud'><span>0</div></span></p>")
    files = _foreign(**{"index.html": html})
    review = P.qa_review(files, {})
    text = _descriptions(review)
    assert "never closes a <span>" in text
    assert "closing </span> without" in text or "closing </p> without" in text
    again, _ = _fix_and_recheck(files, {})
    assert again["issues"] == 0


def test_blocking_script_in_head_gets_defer() -> None:
    html = MINIMAL_HTML.replace('<script src="main.js"></script>\n', "").replace(
        "<title>Mini</title>", '<title>Mini</title><script src="main.js"></script>'
    )
    files = _foreign(**{"index.html": html})
    review = P.qa_review(files, {})
    assert review["issues"] == 1 and "without defer" in _descriptions(review)
    again, fixed = _fix_and_recheck(files, {})
    assert again["issues"] == 0
    assert '<script defer src="main.js">' in fixed[0]["content"]


def test_missing_stylesheet_and_unlinked_stylesheet() -> None:
    files = _foreign(**{"style.css": None})
    review = P.qa_review(files, {})
    assert review["issues"] == 1 and "'style.css'" in _descriptions(review)
    assert _fix_and_recheck(files, {})[0]["issues"] == 0
    extra = [*_foreign(), {"path": "extra.css", "content": "p{}"}]
    review = P.qa_review(extra, {})
    assert review["issues"] == 1
    assert review["findings"][0]["severity"] == "warning"
    assert _fix_and_recheck(extra, {})[0]["issues"] == 0


def test_info_findings_do_not_count_as_issues() -> None:
    html = MINIMAL_HTML.replace("<!DOCTYPE html>\n", "")
    review = P.qa_review(_foreign(**{"index.html": html}), {})
    assert review["issues"] == 0
    assert [f["severity"] for f in review["findings"]] == ["info"]


@pytest.mark.parametrize("template_id", ["snake", "breakout", "shooter", "runner", "clicker"])
def test_fix_leaves_a_clean_generated_game_alone(template_id: str) -> None:
    _, files = _generated(f"a {template_id} game")
    assert P.fix(files, [])["files"] == files


def test_findings_are_ordered_errors_first() -> None:
    html = MINIMAL_HTML.replace("<!DOCTYPE html>\n", "").replace("</body>", "</b></body>")
    files = _foreign(**{"index.html": html, "style.css": None})
    severities = [f["severity"] for f in P.qa_review(files, {})["findings"]]
    assert severities == sorted(severities, key=["error", "warning", "info"].index)
    assert P.qa_review(files, {})["issues"] == severities.count("error") + severities.count(
        "warning"
    )


def test_findings_are_capped_for_the_task_schema() -> None:
    html = MINIMAL_HTML.replace("</body>", "</nav>" * 80 + "</body>")
    review = P.qa_review(_foreign(**{"index.html": html}), {})
    assert len(review["findings"]) == 50
    assert review["issues"] == 50
    assert review["findings"][-1]["description"].startswith("31 more problems like:")
