"""Files shipped with the package (stylesheets), found the same way installed or not."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def styles_dir() -> Path:
    """``styles/`` inside the installed wheel, or at the top of a source checkout.

    The wheel carries the repository's ``styles/`` as ``sreconsole/styles`` (see
    pyproject.toml); an editable install points at ``src/`` where it is two levels up.
    """
    for candidate in (_PACKAGE_DIR / "styles", _PACKAGE_DIR.parent.parent / "styles"):
        if (candidate / "app.tcss").is_file():
            return candidate
    raise FileNotFoundError(f"styles/app.tcss not found next to {_PACKAGE_DIR}")


def stylesheets() -> list[Path]:
    base = styles_dir()
    return sorted(base.glob("*.tcss"), key=lambda p: (p.name != "app.tcss", p.name))
