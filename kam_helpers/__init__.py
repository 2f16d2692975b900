"""KAM Workspace: the package behind the notebooks.

The pipeline, one module each: sources (read exports) → validate → store → metrics (scorecard) →
narrative → charts → report / render (HTML) → batch (papermill per account) → cli (`kam`).
"""

__version__ = "0.1.0"
