"""Connections between a labelling session (:mod:`activekit.session`) and labelling tools.

- :mod:`activekit.integrations.labelstudio`: an ML backend for Label Studio
  (``pip install "activekit[labelstudio]"``; command ``activekit serve labelstudio``).
- :mod:`activekit.integrations.labelpage`: a labelling page of our own, served on 127.0.0.1
  (command ``activekit label``).

Importing this package imports no web framework; each integration imports its own
dependencies when it is used.
"""

__all__: list[str] = []
