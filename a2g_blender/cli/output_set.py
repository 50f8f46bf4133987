# SPDX-License-Identifier: GPL-3.0-or-later
"""The output files of one batch input, replaced all together or not at all (no bpy).

Every output is first written under a hidden temporary name in the output folder
(``.<name>.partial-<token><suffix>``, the suffix kept so exporters that insist on it are
content). Only when every output of the input has been written does :meth:`OutputSet.commit`
move them into place: the old files are moved aside first, then the new ones in, and if any
move fails the old ones are put back. Otherwise (:meth:`OutputSet.discard`) the temporary files
are removed and the old outputs are exactly as they were, byte for byte.

The temporary names are never what the user is told: :meth:`OutputSet.final_names` rewrites a
message to name the final files, and :meth:`OutputSet.messages_name_finals` does it for
everything Blender and its exporters print while the outputs are written ("Saved copy as",
"BVH Exported: ...").
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from pathlib import Path

from ..core.errors import UserError


class OutputError(UserError):
    """An output could not be put in place; the old files are as they were."""


def folder_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot take the outputs (None when it can): checked once, before any work.

    A folder that does not exist yet is fine when it can be created: the nearest existing
    ancestor must be a folder this process can write to. Nothing is left behind by the check.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        return f"--output-dir {folder} is a file, not a folder: choose a folder for the outputs"
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        return (f"--output-dir {folder} cannot be created: {probe} is a file, not a folder; "
                "choose another folder for the outputs")
    test = probe / f".a2g-write-test-{secrets.token_hex(4)}"
    try:
        os.close(os.open(test, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError as exc:
        what = "cannot be written to" if probe == folder else f"cannot be created in {probe}"
        return (f"--output-dir {folder} {what} ({exc.strerror}): choose a folder you can "
                "write to")
    try:
        test.unlink()
    except OSError:
        pass
    return None


class OutputSet:
    """Temporary paths for ``finals`` (kind -> final path), then commit or discard."""

    def __init__(self, finals: dict):
        self.finals = {kind: Path(p) for kind, p in finals.items()}
        token = secrets.token_hex(4)
        self.temps = {kind: p.with_name(f".{p.stem}.partial-{token}{p.suffix}")
                      for kind, p in self.finals.items()}
        self._token = token

    def __getitem__(self, kind: str) -> Path:
        """Where to write ``kind`` now (its temporary path)."""
        return self.temps[kind]

    def __contains__(self, kind: str) -> bool:
        return kind in self.finals

    def final_names(self, text: str) -> str:
        """``text`` naming the final files where it names a temporary one (path or file name)."""
        for kind, temp in self.temps.items():
            final = self.finals[kind]
            text = text.replace(str(temp), str(final)).replace(temp.name, final.name)
        return text

    @contextlib.contextmanager
    def messages_name_finals(self):
        """While the outputs are written: what is printed on ``sys.stdout`` / ``sys.stderr``
        (Blender's reports, the exporters' messages) names the final files, not the temporary
        ones."""
        streams = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = (_FinalNames(s, self.final_names) for s in streams)
        try:
            yield
        finally:
            sys.stdout, sys.stderr = streams

    def blockers(self) -> list[str]:
        """Final paths that no file can be moved onto (a folder of that name)."""
        return [f"{p.name} is a folder, not a file: remove or rename it"
                for p in self.finals.values() if p.is_dir()]

    def discard(self) -> None:
        """Remove whatever was written; the old outputs are untouched."""
        for p in self.temps.values():
            try:
                p.unlink()
            except FileNotFoundError:
                pass

    def commit(self) -> None:
        """Move every new output into place, replacing the old ones; all or nothing."""
        missing = [self.finals[k].name for k, p in self.temps.items() if not p.is_file()]
        if missing:
            self.discard()
            raise OutputError(f"{', '.join(missing)} {'was' if len(missing) == 1 else 'were'} "
                              "not written; the old files are as they were")
        aside: dict[str, Path] = {}
        placed: list[str] = []
        try:
            for kind, final in self.finals.items():
                if final.exists() or final.is_symlink():
                    backup = final.with_name(f".{final.stem}.old-{self._token}{final.suffix}")
                    os.replace(final, backup)
                    aside[kind] = backup
            for kind, final in self.finals.items():
                os.replace(self.temps[kind], final)
                placed.append(kind)
        except OSError as exc:
            for kind in placed:  # take the new ones out again, put the old ones back
                try:
                    os.replace(self.finals[kind], self.temps[kind])
                except OSError:
                    pass
            for kind, backup in aside.items():
                try:
                    os.replace(backup, self.finals[kind])
                except OSError:
                    pass
            self.discard()
            raise OutputError(f"could not put {exc.filename or 'the outputs'} in place "
                              f"({exc.strerror}); the old files are as they were") from None
        for backup in aside.values():
            try:
                backup.unlink()
            except OSError:
                pass


class _FinalNames:
    """A text stream that writes through to ``stream`` with ``rename`` applied to the text."""

    def __init__(self, stream, rename):
        self._stream, self._rename = stream, rename

    def write(self, text: str) -> int:
        self._stream.write(self._rename(text))
        return len(text)

    def __getattr__(self, name):  # flush, fileno, isatty, encoding, ...: the stream's own
        return getattr(self._stream, name)
