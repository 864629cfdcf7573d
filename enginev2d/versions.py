"""A project's published versions, read from its git history: where undo and redo go.

Every published change is a commit. An undo or redo is a commit too (history is never
rewritten), carrying ``Engine-Restored-From: <the version's commit>`` and
``Engine-Restore: undo|redo``. Replaying the first-parent history from the oldest commit
gives the two stacks an editor keeps: the versions behind the current one (undo steps
back through them, one more on each request) and the versions undone (redo steps forward
again; any new change clears them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import gitrepo

RESTORED_TRAILER = "Engine-Restored-From"
STEP_TRAILER = "Engine-Restore"
STEPS = ("undo", "redo")


@dataclass(frozen=True)
class Version:
    sha: str  # the commit that published it
    number: int  # 1, 2, 3... in the order the versions were made
    subject: str  # its commit subject: the summary the user saw


@dataclass
class Timeline:
    done: list[Version] = field(default_factory=list)  # oldest first; done[-1] is current
    undone: list[Version] = field(default_factory=list)  # redo goes to undone[-1]
    total: int = 0  # versions made so far

    def target(self, step: str) -> Version | None:
        """The version ``step`` (undo / redo) leads to, or None when there is none."""
        if step == "redo":
            return self.undone[-1] if self.undone else None
        return self.done[-2] if len(self.done) >= 2 else None


def replay(entries: Sequence[dict[str, str]]) -> Timeline:
    """The stacks after the commits ``entries`` (oldest first, see
    :func:`gitrepo.first_parent_log`)."""
    t = Timeline()
    by_sha: dict[str, Version] = {}
    for e in entries:
        restored = by_sha.get(e.get(RESTORED_TRAILER, ""))
        if restored is None:  # a new version (or a restore this history cannot place)
            t.total += 1
            version = Version(e["sha"], t.total, e["subject"])
            by_sha[e["sha"]] = version
            t.done.append(version)
            t.undone.clear()
        elif restored in t.done:  # undo, possibly several steps back
            while t.done and t.done[-1] != restored:
                t.undone.append(t.done.pop())
        else:  # redo, possibly several steps forward
            while t.undone:
                version = t.undone.pop()
                t.done.append(version)
                if version == restored:
                    break
    return t


def timeline(repo: Path, rev: str = "HEAD") -> Timeline:
    return replay(gitrepo.first_parent_log(repo, (RESTORED_TRAILER, STEP_TRAILER), rev))


SUMMARIES = {
    "en": {
        "undo": 'Undid the last change: back to version {number} of {total}, "{subject}".',
        "redo": 'Redid the change: forward to version {number} of {total}, "{subject}".',
        "unplaced": "Restored to version {commit}.",
    },
    "ja": {
        "undo": "元に戻しました：バージョン {number}/{total}「{subject}」に戻りました。",
        "redo": "やり直しました：バージョン {number}/{total}「{subject}」に進みました。",
        "unplaced": "バージョン {commit} に戻しました。",
    },
}


def describe(step: str, version: Version, total: int, language: str) -> str:
    """The restore summary, naming the version in words (its number and what it was)."""
    table = SUMMARIES.get(language, SUMMARIES["en"])
    subject = version.subject if len(version.subject) <= 80 else version.subject[:77] + "..."
    return table[step].format(number=version.number, total=total, subject=subject)


def describe_unplaced(commit: str, language: str) -> str:
    """The restore summary when the history no longer places the restored version."""
    return SUMMARIES.get(language, SUMMARIES["en"])["unplaced"].format(commit=commit[:12])
