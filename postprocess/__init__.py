"""The product's AI business logic: what an inbound job and a scoring job do.

- :mod:`postprocess.sentiment`: the tags and the lead status they imply, the one rule table
  (fast paths and the offline classifier), the prompt, the validator;
- :mod:`postprocess.drafts`: which replies get a draft, per-channel style and limits, the
  prompt, the validator, the offline templates;
- :mod:`postprocess.scoring`: disqualification, the prompt, the validator, the offline
  heuristic;
- :mod:`postprocess.pipeline`: :func:`post_process_inbound` (:func:`inbound_steps` and its
  draft written), :func:`lead_scores` and :func:`score_lead`, the store and AI calls the job
  handlers make, and
  :data:`OFFLINE_ANSWERS`, the answers the offline provider is built from
  (``ai.create_client(..., offline_answers=OFFLINE_ANSWERS)``).

Imports ``ai`` and ``db`` only.
"""

from postprocess.pipeline import (
    OFFLINE_ANSWERS,
    inbound_steps,
    lead_scores,
    post_process_inbound,
    score_lead,
)

__all__ = ["OFFLINE_ANSWERS", "inbound_steps", "lead_scores", "post_process_inbound", "score_lead"]
