"""What `kam serve` runs (``python -m kam_helpers.apps.voila_main ARGS``): Voilà, with the pools of
:mod:`kam_helpers.apps.kernel_pools` and the URL printed once the first kernel of every pool is warm.

Voilà 0.5 has no setting for the order in which its pools fill (``multi_kernel_manager_class`` is the class
*under* its pool manager, which ``voila_kernel_manager_factory`` builds at start), so this module wraps that
factory before Voilà starts; everything else is Voilà's own command line (:func:`server.voila_command`).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from kam_helpers.apps import kernel_pools
from kam_helpers.apps.server import READY_PREFIX, landing_url


def announce_ready(manager: Any, first: list[kernel_pools.Ticket]) -> None:
    """Print the line `kam serve` promises once its apps can serve: the URL with the access token."""
    not_warm = [t.notebook for t in first if t.state != kernel_pools.WARM]
    if not_warm:
        print(f"Not warm (the log above says why): {', '.join(not_warm)}", flush=True)
    url = landing_url(int(manager.parent.port), os.environ.get("JUPYTER_TOKEN", ""))
    print(f"{READY_PREFIX} {url}  (Ctrl-C stops)", flush=True)


def install(on_ready: Any = announce_ready) -> None:
    """Make Voilà build its pool manager as :func:`kernel_pools.kam_kernel_manager_class`."""
    import voila.app

    voila_factory = voila.app.voila_kernel_manager_factory

    def factory(base_class: type, preheat_kernel: bool, *args: Any, **kwargs: Any) -> type:
        made = voila_factory(base_class, preheat_kernel, *args, **kwargs)
        return kernel_pools.kam_kernel_manager_class(made, on_ready) if preheat_kernel else made

    voila.app.voila_kernel_manager_factory = factory


def main(argv: list[str] | None = None) -> None:
    import voila.app

    install()
    voila.app.main(argv=sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
