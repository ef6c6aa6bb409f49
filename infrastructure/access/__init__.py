"""Need to know, applied: who read what, and why.

- ``log``: the access log (an application of its own): every read of contact details or a
  safeguarding history, recorded before it is returned, and the break-glass alerts;
- ``reads``: ``CaseReads``, the one door to a case's history and contact details (the domain's
  rule in ``domain/rules/need_to_know.py``, then the access log);
- ``roster``: the staff roster read from the outside (who is on which team, and its changes).
"""
