"""Find account credential files on disk, in the seed project's layout.

    <dir>/<name>/cookies.json   (or cookies.txt)
    <dir>/<name>.json           (or <name>.txt)

Only paths are returned; parsing is `accounts.cookies.parse_credentials_file`'s job, so a bad file
is reported by the parser with its own line numbers instead of being hidden by discovery.

Deliberate difference from the seed: when a folder holds both cookies.json and cookies.txt, the JSON
file wins (it is what the upload endpoint writes and it carries sameSite/hostOnly, which Netscape
files cannot), and the choice is reported as a note rather than made silently.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["AccountDiscoveryError", "Discovery", "scan_accounts", "discover_account_files"]

log = logging.getLogger(__name__)

COOKIE_FILE_NAMES = ("cookies.json", "cookies.txt")  # preference order
ACCOUNT_FILE_SUFFIXES = (".json", ".txt")  # preference order for <name>.json / <name>.txt


class AccountDiscoveryError(Exception):
    """The path cannot be used as an account source; the message says why and what was expected."""


@dataclass
class Discovery:
    """Accounts found (sorted by name) plus human-readable notes about files that were passed over."""

    accounts: list[tuple[str, Path]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def scan_accounts(path: str | os.PathLike) -> Discovery:
    """Discover account files under `path` (a single file or a directory).

    Raises AccountDiscoveryError for a missing path or a directory without any account file.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise AccountDiscoveryError(f"{root}: no such file or directory")
    if root.is_file():
        return Discovery(accounts=[(_file_account_name(root), root)])
    if not root.is_dir():
        raise AccountDiscoveryError(f"{root}: not a regular file or directory")
    found = _scan_directory(root)
    if not found.accounts:
        raise AccountDiscoveryError(
            f"{root}: no account files found; expected <name>/cookies.json, <name>/cookies.txt, "
            "<name>.json or <name>.txt" + (f" ({'; '.join(found.notes)})" if found.notes else "")
        )
    return found


def discover_account_files(path: str | os.PathLike, warnings: list[str] | None = None) -> list[tuple[str, Path]]:
    """[(account name, credentials file)] sorted by name.

    Notes about skipped or shadowed files are appended to `warnings` when given, and logged either
    way, so a command can print them and a server start-up still records them.
    """
    found = scan_accounts(path)
    for note in found.notes:
        log.warning("account discovery: %s", note)
    if warnings is not None:
        warnings.extend(found.notes)
    return found.accounts


def _file_account_name(path: Path) -> str:
    # `<name>/cookies.json` is named after its folder; any other file after its own stem.
    if path.name.lower() in COOKIE_FILE_NAMES and path.parent.name:
        return path.parent.name
    return path.stem


def _scan_directory(root: Path) -> Discovery:
    result = Discovery()
    chosen: dict[str, Path] = {}
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):
            continue  # editor swap files, .DS_Store, .git
        if entry.is_dir():
            candidate = _folder_cookie_file(entry, result.notes)
            name = entry.name
        elif entry.is_file() and entry.suffix.lower() in ACCOUNT_FILE_SUFFIXES:
            candidate, name = entry, _file_account_name(entry)
        else:
            continue
        if candidate is not None:
            _keep(chosen, name, candidate, result.notes)
    result.accounts = sorted(chosen.items())
    return result


def _folder_cookie_file(folder: Path, notes: list[str]) -> Path | None:
    present = [folder / n for n in COOKIE_FILE_NAMES if (folder / n).is_file()]
    if not present:
        notes.append(f"{folder.name}/: skipped, it has no cookies.json or cookies.txt")
        return None
    if len(present) > 1:
        notes.append(f"{folder.name}/: both cookies.json and cookies.txt exist; using cookies.json")
    return present[0]


def _keep(chosen: dict[str, Path], name: str, candidate: Path, notes: list[str]) -> None:
    """Resolve two sources for one account name: folder form first, then .json before .txt."""
    current = chosen.get(name)
    if current is None:
        chosen[name] = candidate
        return
    winner, loser = sorted((current, candidate), key=_source_rank)
    chosen[name] = winner
    notes.append(f"{name}: {_relative(loser)} ignored, {_relative(winner)} is used for this account")


def _source_rank(path: Path) -> tuple[int, int]:
    in_folder = 0 if path.name.lower() in COOKIE_FILE_NAMES else 1
    return in_folder, ACCOUNT_FILE_SUFFIXES.index(path.suffix.lower())


def _relative(path: Path) -> str:
    return f"{path.parent.name}/{path.name}" if path.name.lower() in COOKIE_FILE_NAMES else path.name
