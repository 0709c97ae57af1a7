"""The one place that imports scikit-learn's private or version-dependent helpers.

scikit-learn moves its private helpers between releases; when it does, this module is the
only one to mend.
"""

from sklearn.base import _fit_context
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import _num_samples, validate_data

__all__ = [
    "HasMethods",
    "Interval",
    "StrOptions",
    "_fit_context",
    "_num_samples",
    "get_tags",
    "validate_data",
]
