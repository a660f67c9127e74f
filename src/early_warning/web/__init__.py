"""The analyst workbench: tune weights, see the whole history move, save, audit.

`early-warning serve` runs `create_app` with uvicorn; `Workbench` is the engine.
"""

from .app import create_app
from .workbench import Session, Workbench

__all__ = ["Session", "Workbench", "create_app"]
