"""Optional dependencies, imported lazily with an error that says what to install."""

from __future__ import annotations

import importlib

__all__ = ["import_optional"]


def import_optional(module, extra):
    """Import ``module``, or raise an ImportError naming the extra that provides it.

    Examples
    --------
    >>> from activekit._dependencies import import_optional
    >>> import_optional("json", extra="dev").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise ImportError(
            f"{top} is required for this feature but is not installed; "
            f'install it with: pip install "activekit[{extra}]"'
        ) from exc
