"""In-process scheduling: APScheduler's AsyncIOScheduler, started inside the running loop."""

from scheduler._lifespan import scheduler_lifespan

__all__ = ["scheduler_lifespan"]
