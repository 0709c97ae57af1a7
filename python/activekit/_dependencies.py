"""Optional dependencies, imported lazily with an error that says what to install."""

from __future__ import annotations

import importlib
import sys

__all__ = ["import_optional", "is_skorch_net", "is_torch_module"]


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


# Recognising torch objects without importing torch: an object of a torch class can only exist
# once torch has been imported, so a torch missing from sys.modules answers "no".


def is_torch_module(obj):
    """Whether ``obj`` is a ``torch.nn.Module`` class or instance; never imports torch.

    Examples
    --------
    >>> from activekit._dependencies import is_torch_module
    >>> is_torch_module(object())
    False
    """
    torch = sys.modules.get("torch")
    module_cls = getattr(getattr(torch, "nn", None), "Module", None)
    if module_cls is None:
        return False
    return isinstance(obj, module_cls) or (isinstance(obj, type) and issubclass(obj, module_cls))


def is_skorch_net(obj):
    """Whether ``obj`` is a skorch ``NeuralNet`` (a ``TorchClassifier`` too); never imports
    skorch.

    Examples
    --------
    >>> from activekit._dependencies import is_skorch_net
    >>> is_skorch_net(object())
    False
    """
    net_cls = getattr(sys.modules.get("skorch"), "NeuralNet", None)
    return net_cls is not None and isinstance(obj, net_cls)
