"""meilichat: a command-line client for Meilisearch chat workspaces.

This module only carries the version; it must import nothing, because `meilichat --version`
and shell completion load it on every run.
"""

__version__ = "0.1.0"
